"""Load mode: real envelopes from templates, on a steady or bursty schedule."""

from __future__ import annotations

from collections import Counter

import pytest

from devices.base import Uplink
from ingest.uplink import parse
from simulator.codecs import codec_for
from simulator.load import LOAD_PROFILES, LoadGenerator, LoadPlan, load_fleet, run_load, send_times
from simulator.wire import FORMATS


@pytest.mark.parametrize("fmt", FORMATS)
def test_load_messages_are_valid_uplinks_with_fresh_ids_counters_and_times(fmt: str) -> None:
    plan = LoadPlan(devices=len(LOAD_PROFILES) * 2, fmt=fmt, topic_prefix="bench")
    gen = LoadGenerator(plan)
    fleet = {d.dev_eui: d for d in gen.fleet}
    seen: dict[str, list[int]] = {}
    ids = set()
    for k in range(plan.devices * 3):
        when = 1_750_000_000.0 + k
        topic, payload = gen.next(when)
        assert topic.startswith("bench/")
        up = parse(topic.removeprefix("bench/"), payload, tts=fmt == "tts")
        assert isinstance(up, Uplink), up
        assert up.time.timestamp() == pytest.approx(when, abs=1e-6)
        spec = fleet[up.dev_eui]
        decoded = codec_for(spec.profile).decode(up.f_port, up.payload, spec.params)
        assert not decoded.errors and (decoded.readings or decoded.positions)
        seen.setdefault(up.dev_eui, []).append(up.f_cnt)
        ids.add(up.dedup_id)
    assert len(ids) == plan.devices * 3
    assert all(c == list(range(c[0], c[0] + 3)) for c in seen.values())
    assert {fleet[e].profile for e in seen} == set(LOAD_PROFILES)


def test_load_fleet_is_stable_and_unique() -> None:
    a, b = load_fleet(50), load_fleet(50)
    assert a == b and len({d.dev_eui for d in a}) == 50


def test_steady_schedule_is_evenly_spaced() -> None:
    times = list(send_times(LoadPlan(rate=100, duration_s=2)))
    assert len(times) == 200
    assert times[1] - times[0] == pytest.approx(0.01) and times[-1] < 2


def test_bursty_schedule_keeps_the_mean_rate_in_short_bursts() -> None:
    times = list(send_times(LoadPlan(rate=100, duration_s=30, bursty=True)))
    assert len(times) == 3000
    per_second = Counter(int(t) for t in times)
    assert set(per_second) == {0, 10, 20}          # each 10 s cycle sends its share in its first second
    assert all(n == 1000 for n in per_second.values())


def test_run_load_paces_and_counts() -> None:
    fake_now = [0.0]
    sent: list[str] = []

    def sleep(s: float) -> None:
        fake_now[0] += s

    def publish(topic: str, payload: bytes) -> None:
        sent.append(topic)
        fake_now[0] += 0.0001

    result = run_load(LoadPlan(devices=5, rate=50, duration_s=2), publish, flush=lambda: len(sent),
                      clock=lambda: fake_now[0], sleep=sleep, wall_clock=lambda: 1_750_000_000.0)
    assert result.sent == result.acked == 100 == len(sent)
    assert result.wall_s == pytest.approx(2.0, abs=0.05)
    assert result.rate == pytest.approx(50, rel=0.03)
    assert result.peak_rate == pytest.approx(50, abs=1)


def test_bursty_run_reports_the_mean_over_the_plan_and_the_burst_peak() -> None:
    fake_now = [0.0]

    def sleep(s: float) -> None:
        fake_now[0] += s

    def publish(topic: str, payload: bytes) -> None:
        fake_now[0] += 0.0001

    result = run_load(LoadPlan(devices=5, rate=20, duration_s=20, bursty=True), publish, flush=lambda: 400,
                      clock=lambda: fake_now[0], sleep=sleep, wall_clock=lambda: 1_750_000_000.0)
    assert result.wall_s == pytest.approx(20, abs=0.05)      # the quiet tail of the last cycle counts
    assert result.rate == pytest.approx(20, rel=0.03)
    assert result.peak_rate == 200                            # a 10 s share sent within one second


def test_invalid_plan_is_refused() -> None:
    with pytest.raises(ValueError):
        LoadPlan(devices=0)
