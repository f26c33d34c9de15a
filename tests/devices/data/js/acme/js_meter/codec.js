// Test codec in the The Things Stack / ChirpStack convention, written for Beffroi's tests.
// fPort 1: byte 0 battery %, bytes 1-2 temperature int16 BE / 10 degC, bytes 3-4 CO2 ppm uint16 BE,
//          byte 5 (optional) PIR state 0 idle / 1 trigger.
// fPort 9: misbehaviour on purpose, chosen by byte 0: 1 endless loop, 2 allocates without end, 3 throws,
//          4 returns nothing, 5 tries to reach the outside world.
function int16(hi, lo) {
  var v = (hi << 8) | lo;
  return v > 0x7fff ? v - 0x10000 : v;
}

function decodeUplink(input) {
  var b = input.bytes;
  if (input.fPort === 9) {
    switch (b[0]) {
      case 1: for (;;) {}
      case 2: { var hoard = []; for (;;) { hoard.push(new Array(1000000).fill(1.5)); } }
      case 3: throw new RangeError("byte 1 is " + b[1] + ", not a known frame");
      case 4: return undefined;
      case 5: return { data: { env: typeof require + "," + typeof fetch + "," + typeof process + "," +
                               typeof XMLHttpRequest + "," + typeof WebSocket } };
    }
  }
  if (input.fPort !== 1) {
    return { errors: ["unknown FPort " + input.fPort] };
  }
  if (b.length < 5) {
    return { errors: ["truncated frame: " + b.length + " byte(s), expected 5 or 6"] };
  }
  var data = {
    battery: b[0],
    temperature: int16(b[1], b[2]) / 10,
    co2: (b[3] << 8) | b[4],
  };
  var warnings = [];
  if (b.length > 5) {
    data.pir = b[5] ? "trigger" : "idle";
  }
  if (data.co2 === 0xffff) {
    warnings.push("CO2 sensor not ready");
  }
  if (input.recvTime) {
    data.received = input.recvTime.toISOString();
  }
  return { data: data, warnings: warnings };
}

// Beffroi extension: the inverse, for the simulator (vocabulary quantities in, fPort and bytes out).
function encodeUplink(input) {
  var d = input.data;
  var t = Math.round((d.temperature || 0) * 10) & 0xffff;
  var c = Math.round(d.co2 || 0);
  var bytes = [Math.round(d.battery || 0), t >> 8, t & 0xff, c >> 8, c & 0xff];
  if (d.occupancy !== undefined) { bytes.push(d.occupancy ? 1 : 0); }
  return { fPort: 1, bytes: bytes };
}
