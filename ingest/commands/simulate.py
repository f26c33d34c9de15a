"""``beffroi simulate``: play a scenario (or a load test) through the MQTT broker, as a network server would.

    beffroi simulate flash-flood --fleet-csv fleet.csv --fleet-only   # then: beffroi devices import fleet.csv
    beffroi simulate flash-flood --speed 600
    beffroi simulate school-week --speed 1 --start now              # real time, from now on
    beffroi simulate waste-round --until 2d --dry-run > messages.txt
    beffroi simulate --load --devices 5000 --rate 2000 --duration 30 [--bursty]
    beffroi simulate --list

Scenario names are the files of ``simulator/scenarios/`` (or a path to a YAML file). The progress line goes to
stderr; ``--dry-run`` prints the messages on stdout instead of publishing them.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import time
import uuid
from typing import Any

__all__ = ["register", "run"]

_FORMATS = ("chirpstack-json", "chirpstack-pb", "tts")


def _speed(value: str) -> float:
    if value.lower() in ("max", "inf"):
        return math.inf
    speed = float(value)
    if speed <= 0:
        raise argparse.ArgumentTypeError("speed must be greater than 0 (or max)")
    return speed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="play a simulated fleet (scenario or load test) through the MQTT broker",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", help="built-in scenario name or path to a scenario YAML file")
    p.add_argument("--list", action="store_true", help="list the built-in scenarios and exit")
    p.add_argument("--speed", type=_speed, default=600.0,
                   help="simulated seconds per wall-clock second (600: ten minutes per second; 1: real time; "
                        "max: as fast as the broker acknowledges). Default 600")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same messages")
    p.add_argument("--start", help="move the scenario to start at this ISO date-time, or 'now' "
                                   "(default: the start written in the scenario)")
    p.add_argument("--until", help="stop early: a duration from the start (6h, 1d12h) or an ISO date-time")
    p.add_argument("--format", choices=_FORMATS, default="chirpstack-json", help="envelope format")
    p.add_argument("--fleet-csv", metavar="PATH", help="write the devices as CSV for 'beffroi devices import'")
    p.add_argument("--fleet-only", action="store_true", help="with --fleet-csv: write it and exit, send nothing")
    p.add_argument("--truth", metavar="PATH", help="write the scenario's ground truth (JSON) after the run")
    p.add_argument("--mqtt-url", help="broker URL (default: mqtt.url from the configuration)")
    p.add_argument("--topic-prefix", default="", help="prefix every topic with P/ (to keep test runs apart)")
    p.add_argument("--client-id", help="MQTT client id (default: beffroi-sim-<random>)")
    p.add_argument("--max-inflight", type=int, default=200, help="messages awaiting PUBACK at most (default 200)")
    p.add_argument("--dry-run", action="store_true", help="print the messages instead of publishing them")
    load = p.add_argument_group("load mode (benchmarks)")
    load.add_argument("--load", action="store_true", help="publish synthetic load instead of a scenario")
    load.add_argument("--devices", type=int, default=1000, help="virtual devices (default 1000)")
    load.add_argument("--rate", type=_speed, default=1000.0, help="messages per second, or max (default 1000)")
    load.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    load.add_argument("--bursty", action="store_true",
                      help="send each 10 s worth of messages in 1 s bursts (same mean rate)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulator.scenario import ScenarioError, builtin_scenarios

    if args.list:
        for name in builtin_scenarios():
            print(name)
        return 0
    try:
        if args.load:
            return _run_load(args)
        if not args.scenario:
            print("beffroi simulate: give a scenario (see --list) or --load", file=sys.stderr)
            return 2
        return _run_scenario(args)
    except ScenarioError as exc:
        print(f"beffroi simulate: {exc}", file=sys.stderr)
        return 2


def _mqtt_url(args: argparse.Namespace) -> str:
    return str(args.mqtt_url or args.settings.get("mqtt", "url"))


def _bounds(args: argparse.Namespace, scenario: Any) -> tuple[float | None, float | None]:
    from simulator.clock import parse_duration, parse_instant

    start = None
    if args.start:
        start = time.time() if args.start == "now" else parse_instant(args.start, scenario.tz)
    until = None
    if args.until:
        origin = start if start is not None else scenario.start
        try:
            until = origin + parse_duration(args.until.lstrip("+"))
        except ValueError:
            until = parse_instant(args.until, scenario.tz)
    return start, until


def _run_scenario(args: argparse.Namespace) -> int:
    from simulator.engine import Simulation
    from simulator.fleet import write_fleet_csv
    from simulator.player import Progress, play
    from simulator.publish import Publisher, PublishError
    from simulator.scenario import load_scenario, scenario_path

    scenario = load_scenario(scenario_path(args.scenario))
    try:
        start, until = _bounds(args, scenario)
    except ValueError as exc:
        print(f"beffroi simulate: {exc}", file=sys.stderr)
        return 2
    sim = Simulation(scenario, seed=args.seed, fmt=args.format, start=start, until=until,
                     topic_prefix=args.topic_prefix)
    if args.fleet_csv:
        count = write_fleet_csv(sim.fleet, args.fleet_csv)
        print(f"wrote {count} devices to {args.fleet_csv}", file=sys.stderr)
    if args.fleet_only:
        if not args.fleet_csv:
            print("beffroi simulate: --fleet-only needs --fleet-csv PATH", file=sys.stderr)
            return 2
        return 0
    progress = Progress(sim.scenario.start, sim.until, tz=scenario.tz)
    if args.dry_run:
        try:
            result = play(sim.messages(), _print_message, speed=math.inf, sim_start=sim.scenario.start)
        except BrokenPipeError:            # `| head`: the reader has seen enough
            sys.stdout = open(os.devnull, "w")  # so the final flush stays quiet
            return 0
    else:
        client_id = args.client_id or f"beffroi-sim-{uuid.uuid4().hex[:8]}"
        try:
            with Publisher(_mqtt_url(args), client_id=client_id, max_inflight=args.max_inflight) as pub:
                result = play(sim.messages(), lambda m: pub.publish(m.topic, m.payload), speed=args.speed,
                              sim_start=sim.scenario.start, sim_end=sim.until, progress=progress)
        except PublishError as exc:
            print(f"beffroi simulate: {exc}", file=sys.stderr)
            return 1
    s = sim.stats
    print(f"{scenario.name}: {result.messages} messages in {result.wall_s:.1f} s ({result.rate:.1f} msg/s); "
          f"{s.transmissions} transmissions, {s.lost} lost on air, {s.silent} skipped (silent), "
          f"{s.duplicates} duplicates, {s.garbage} garbage payloads, {s.encode_errors} not encodable",
          file=sys.stderr)
    if args.truth:
        with open(args.truth, "w", encoding="utf-8") as fh:
            json.dump(sim.truth(), fh, indent=2, sort_keys=True)
    return 0


def _print_message(message: Any) -> None:
    from simulator.clock import iso_utc

    body = message.payload
    text = body.decode() if body[:1] == b"{" else "base64:" + base64.b64encode(body).decode()
    sys.stdout.write(f"{iso_utc(message.sim_time)} {message.topic} {text}\n")


def _run_load(args: argparse.Namespace) -> int:
    from ingest.commands.bench import print_figures
    from simulator.fleet import write_fleet_csv
    from simulator.load import LoadPlan, load_fleet, run_load
    from simulator.publish import Publisher, PublishError

    plan = LoadPlan(devices=args.devices, rate=args.rate, duration_s=args.duration, bursty=args.bursty,
                    fmt=args.format, topic_prefix=args.topic_prefix, seed=args.seed)
    if args.fleet_csv:
        count = write_fleet_csv(load_fleet(plan.devices), args.fleet_csv)
        print(f"wrote {count} devices to {args.fleet_csv}", file=sys.stderr)
    client_id = args.client_id or f"beffroi-load-{uuid.uuid4().hex[:8]}"
    last = [0.0]

    def tick(sent: int, elapsed: float) -> None:
        if elapsed - last[0] >= 1.0:
            last[0] = elapsed
            print(f"\rload: {elapsed:5.1f} s  sent {sent:,}  {sent / elapsed:,.0f} msg/s ", end="",
                  file=sys.stderr, flush=True)
    try:
        with Publisher(_mqtt_url(args), client_id=client_id, max_inflight=args.max_inflight) as pub:
            def flush() -> int:
                pub.flush()
                return pub.acked
            result = run_load(plan, pub.publish, flush=flush, on_tick=tick)
    except PublishError as exc:
        print(f"\nbeffroi simulate: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print_figures("simulate load", {
        "format": plan.fmt, "devices": plan.devices, "pattern": "bursty" if plan.bursty else "steady",
        "target_rate_msg_s": "max" if math.isinf(plan.rate) else float(plan.rate),
        "messages_sent": result.sent, "messages_acked": result.acked, "wall_s": round(result.wall_s, 3),
        "achieved_rate_msg_s": round(result.rate, 1), "peak_rate_msg_s_over_1s": result.peak_rate,
    })
    return 0
