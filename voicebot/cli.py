"""The ``voicebot`` command: serve, worker, simulate, demo, api-key."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from loguru import logger

from voicebot.config import get_settings
from voicebot.errors import VoicebotError


def _quiet_logs(level: str) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level)


def percentile(values: list[int], p: float) -> int:
    """Nearest-rank percentile (no interpolation: every figure is a measured one)."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(latencies: list[int]) -> str:
    if not latencies:
        return "no answered turns"
    return (
        f"{len(latencies)} turns, median {int(statistics.median(latencies))} ms, "
        f"p95 {percentile(latencies, 95)} ms, max {max(latencies)} ms"
    )


class LivePrinter:
    """Prints a call as it happens: who said what, when, and how fast the bot answered."""

    def __init__(self, prefix_names: bool) -> None:
        self.prefix_names = prefix_names

    def __call__(self, event: dict[str, Any]) -> None:
        name = f"[{event['scenario']}] " if self.prefix_names else ""
        kind = event.get("type")
        t = event.get("t")
        stamp = f"{t:6.2f}s " if isinstance(t, (int, float)) else "        "
        if kind == "caller":
            print(f"{name}{stamp}caller: {event['text']}", flush=True)
        elif kind == "bot_audio":
            print(f"{name}{stamp}        (bot answered after {event['latency_ms']} ms)", flush=True)
        elif kind == "bot":
            print(f"{name}        bot:    {event['text']}", flush=True)
        elif kind == "heard":
            print(
                f"{name}        (bot heard: {event['text']!r}, confidence {event['confidence']})",
                flush=True,
            )
        elif kind == "outcome":
            print(
                f"{name}        outcome decided: {event['outcome']}"
                f"{' (escalated)' if event.get('escalated') else ''}",
                flush=True,
            )


async def _simulate(
    paths: list[Path],
    *,
    concurrency: int,
    out: Path | None,
    url: str | None,
    as_json: bool,
    live: bool,
) -> int:
    from voicebot.simulator.runner import Simulator
    from voicebot.simulator.scenario import load_scenarios

    settings = get_settings()
    scenarios = load_scenarios(paths)
    printer = LivePrinter(prefix_names=len(scenarios) > 1) if live and not as_json else None
    async with Simulator(settings, url=url, out_dir=out, on_event=printer) as sim:
        results = await sim.run(scenarios, concurrency=concurrency)
    latencies: list[int] = []
    for r in results:
        latencies += r.latency_ms
        if as_json:
            print(json.dumps(r.to_json()), flush=True)
        else:
            mark = "PASS" if r.passed else "FAIL"
            print(
                f"{mark} {r.name}: outcome={r.outcome} escalated={r.escalated} "
                f"latency_ms={r.latency_ms} wav={r.wav}"
            )
            for failure in r.failures:
                print(f"     - {failure}")
    if not as_json:
        passed = sum(r.passed for r in results)
        summary = latency_summary(latencies)
        print(f"\n{passed}/{len(results)} scenarios passed; response latency: {summary}")
    return 0 if all(r.passed for r in results) else 1


async def _demo() -> int:
    from voicebot.simulator.runner import Simulator
    from voicebot.simulator.scenario import load_scenario

    settings = get_settings()
    path = Path(str(resources.files("voicebot.simulator").joinpath("demo/confirm-yes.yaml")))
    scenario = load_scenario(path)
    tx = scenario.transaction
    print("voicebot demo: a transaction-confirmation call, end to end, offline.")
    print(
        f"  calling {scenario.customer.first_name} ({scenario.customer.phone}) about "
        f"{tx.amount} {tx.currency} at {tx.merchant}"
        if tx
        else ""
    )
    print("  loading models and starting the server on loopback...\n", flush=True)
    async with Simulator(settings, on_event=LivePrinter(prefix_names=False)) as sim:
        [result] = await sim.run([scenario])
    print()
    print(
        f"outcome:   {result.outcome} (expected {result.expected['outcome']})"
        f"{', escalated' if result.escalated else ''}"
    )
    print(f"latency:   {latency_summary(result.latency_ms)}")
    print(f"recording: {result.wav} (stereo: left caller, right bot)")
    print("what the caller heard (the bot's audio, transcribed back):")
    for line in result.transcript:
        if line["speaker"] == "bot":
            print(f"  {line['start']:6.2f}s  {line['text']}")
    for failure in result.failures:
        print(f"FAILED: {failure}")
    print("\nDemo passed." if result.passed else "\nDemo FAILED.")
    return 0 if result.passed else 1


def _serve(host: str, port: int) -> int:
    import uvicorn

    from voicebot.app import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings), host=host, port=port, ws_max_size=settings.ws_max_message_bytes
    )
    return 0


def _worker() -> int:
    """A dialer worker (arq); start several processes to share the load."""
    import logging.config

    from arq.logs import default_log_config

    from voicebot.dialer.worker import run_worker

    logging.config.dictConfig(default_log_config(verbose=False))  # arq's job log, at INFO
    run_worker(get_settings())
    return 0


def _api_key(name: str) -> int:
    """Print a fresh key (for the client) and its hash (for the configuration)."""
    from voicebot.api.auth import hash_key, new_api_key

    key = new_api_key()
    print(f"key for {name} (give it to them; it is not stored anywhere): {key}")
    print(f"add to VOICEBOT_API_KEYS (a JSON object): {json.dumps({name: hash_key(key)})}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicebot", description=__doc__)
    parser.add_argument("--log-level", default="WARNING", help="log level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the telephony webhook server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    sub.add_parser("worker", help="run a dialer worker: queued callbacks become calls")

    sim = sub.add_parser("simulate", help="run scenario calls through the phone simulator")
    sim.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    sim.add_argument("--json", action="store_true", help="one JSON object per scenario")
    sim.add_argument("--concurrency", type=int, default=1, help="calls at once (default 1)")
    sim.add_argument("--out", type=Path, default=None, help="folder for recordings (default out/)")
    sim.add_argument("--url", default=None, help="target a running server instead of starting one")
    sim.add_argument("--live", action="store_true", help="print each call as it happens")

    sub.add_parser("demo", help="run one whole simulated confirmation call and print it")

    key = sub.add_parser("api-key", help="make a callbacks-API key for a client")
    key.add_argument("name", help="the client's name, as it will appear in VOICEBOT_API_KEYS")

    args = parser.parse_args(argv)
    _quiet_logs(args.log_level)
    if args.command == "api-key":
        return _api_key(args.name)
    try:
        if args.command == "serve":
            return _serve(args.host, args.port)
        if args.command == "worker":
            return _worker()
        if args.command == "simulate":
            return asyncio.run(
                _simulate(
                    args.paths,
                    concurrency=args.concurrency,
                    out=args.out,
                    url=args.url,
                    as_json=args.json,
                    live=args.live,
                )
            )
        return asyncio.run(_demo())
    except VoicebotError as e:
        print(f"voicebot: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
