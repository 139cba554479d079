"""The ``voicebot`` command: serve, worker, simulate, demo, bench, dnc-import, api-key,
train-understanding, eval-understanding, check-line."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from voicebot.bench.stats import percentile
from voicebot.config import REPO_ROOT, LogFormat, Role, get_settings
from voicebot.errors import VoicebotError
from voicebot.logs import configure_logging

# The kinds of question (``voicebot.dialog.engine.EXPECTATIONS``), without importing the engine.
QUESTION_KINDS = ("identity", "yes_no", "rating", "comment", "time")


def _log_format() -> LogFormat:
    """The configured log format; text if the configuration is broken (the command says so)."""
    try:
        return get_settings().log_format
    except VoicebotError:
        return "text"


def latency_summary(latencies: list[int]) -> str:
    if not latencies:
        return "no answered turns"
    return (
        f"{len(latencies)} turns, median {int(statistics.median(latencies))} ms, "
        f"p95 {percentile([float(v) for v in latencies], 95):.0f} ms, max {max(latencies)} ms"
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
    from voicebot.simulator.runner import ScenarioResult, Simulator, results_in_order
    from voicebot.simulator.scenario import Scenario, load_each

    settings = get_settings()
    # Each file on its own: an invalid one is a failed result, the others still run.
    loaded = load_each(paths)
    scenarios = [s for s in loaded if isinstance(s, Scenario)]
    printer = LivePrinter(prefix_names=len(scenarios) > 1) if live and not as_json else None
    ran: list[ScenarioResult] = []
    if scenarios:
        async with Simulator(settings, url=url, out_dir=out, on_event=printer) as sim:
            ran = await sim.run(scenarios, concurrency=concurrency)
    results = results_in_order(loaded, ran)
    latencies: list[int] = []
    for r in results:
        latencies += r.latency_ms
        if as_json:
            print(json.dumps(r.to_json()), flush=True)
        elif not r.call_sid:  # never dialed: the file could not be used
            print(f"FAIL {r.name}: {r.file}")
            for failure in r.failures:
                print(f"     - {failure}")
        else:
            mark = "PASS" if r.passed else "FAIL"
            print(
                f"{mark} {r.name}: outcome={r.outcome} escalated={r.escalated} "
                f"latency_ms={r.latency_ms} wav={r.wav}"
            )
            for failure in r.failures:
                print(f"     - {failure}")
            for warning in r.warnings:
                print(f"     ! {warning}")
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


async def _campaign(path: Path | None) -> int:
    """A mixed campaign through the callbacks API, the gate, workers and Twilio's REST side."""
    from voicebot.simulator.campaign import CampaignRun, default_campaign_path, load_campaign

    settings = get_settings()
    campaign = load_campaign(path or default_campaign_path())
    # Its own fresh database: the frequency caps must not see an earlier run's calls.
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    db_file = settings.output_dir / "campaign.db"
    db_file.unlink(missing_ok=True)
    settings = settings.model_copy(update={"database_url": f"sqlite:///{db_file}"})
    print(f"voicebot demo --campaign: {len(campaign.callbacks)} callback requests, offline.")
    print(f"  records: {db_file}; loading models and starting the server...\n", flush=True)
    run = CampaignRun(settings, campaign, on_progress=lambda line: print(line, flush=True))
    report = await run.run()
    print()
    print(report.table())
    print("\nCampaign passed." if report.passed else "\nCampaign FAILED.")
    return 0 if report.passed else 1


async def _bench(
    paths: list[Path],
    calls: list[int],
    baseline_calls: list[int],
    sample: int,
    stagger_s: float,
    out: Path,
) -> int:
    """Latency and capacity: our pipeline at each concurrency, then pipecat's stock one."""
    from voicebot.bench import report
    from voicebot.bench.run import machine, run_config, write_json
    from voicebot.config import REPO_ROOT
    from voicebot.simulator.scenario import load_scenarios

    settings = get_settings()
    found = load_scenarios(paths or [REPO_ROOT / "tests" / "scenarios"])
    # People only (a machine does not wait for answers), spread over the suite.
    people = [s for s in found if s.answered_by == "human"]
    step = max(1, len(people) // sample) if sample else 1
    scenarios = people[::step][:sample] if sample else people
    print(f"voicebot bench: {len(scenarios)} scenarios: {', '.join(s.name for s in scenarios)}")
    configs = [("voicebot", n) for n in calls] + [("stock", n) for n in baseline_calls]
    results = []
    for pipeline, n in configs:
        print(f"running {pipeline} with {n} call(s) at a time...", flush=True)
        result = await run_config(
            settings, scenarios, pipeline=pipeline, concurrency=n, stagger_s=stagger_s
        )
        results.append(result.summary())
        print(report.table(results[-1:]).splitlines()[2], flush=True)
    print()
    print(report.table(results))
    ours = next((r for r in results if r["pipeline"] == "voicebot" and r["concurrency"] == 1), None)
    stock = next((r for r in results if r["pipeline"] == "stock" and r["concurrency"] == 1), None)
    ratio = None
    if ours and stock and ours["p50_ms"] > 0:
        ratio = stock["p50_ms"] / ours["p50_ms"]
        print(
            f"\none call, p50: stock {stock['p50_ms']:.0f} ms / ours {ours['p50_ms']:.0f} ms "
            f"= {ratio:.2f}x faster"
        )
    data = {
        "machine": machine(),
        "scenarios": [s.name for s in scenarios],
        "stagger_s": stagger_s,
        "configs": results,
        "speedup_p50_one_call": ratio,
    }
    write_json(out / "bench.json", data)
    print(f"\nJSON: {out / 'bench.json'}")
    if report.plot(results, out / "bench.png"):
        print(f"plot: {out / 'bench.png'}")
    else:
        print("plot: skipped (matplotlib is not installed: pip install -e '.[dev]')")
    # Our calls must all pass; the stock baseline's misses are its own (reported above).
    failed = [
        f"{r['concurrency']} at once: {', '.join(r['failed'])}"
        for r in results
        if r["pipeline"] == "voicebot" and r["failed"]
    ]
    for line in failed:
        print(f"FAILED scenarios, {line}")
    return 1 if failed else 0


def _serve(host: str, port: int) -> int:
    import uvicorn

    from voicebot.app import create_app
    from voicebot.health import DrainingServer

    settings = get_settings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_max_size=settings.ws_max_message_bytes,
        # JSON: uvicorn's own loggers go through ours (voicebot/logs.py) instead of its format.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    DrainingServer(config, app.state.services.health).run()  # SIGTERM: /readyz false first
    return 0


def _worker() -> int:
    """A dialer worker (arq); start several processes to share the load."""
    from voicebot.dialer.worker import run_worker

    run_worker(get_settings())
    return 0


def _api_key(name: str, roles: list[str]) -> int:
    """Print a fresh key (for the client), its hash and roles (for the configuration)."""
    from voicebot.api.auth import hash_key, new_api_key

    key = new_api_key()
    print(f"key for {name} (give it to them; it is not stored anywhere): {key}")
    print(f"add to VOICEBOT_API_KEYS (a JSON object): {json.dumps({name: hash_key(key)})}")
    if roles != ["backend"]:
        print(f"add to VOICEBOT_API_ROLES (a JSON object): {json.dumps({name: roles})}")
    return 0


def _dnc_import(name: str, path: Path, region: str | None, source: str | None) -> int:
    """Store a new version of a do-not-call list from a CSV file (first column: the number)."""
    from datetime import UTC, datetime

    from voicebot.consent.registry import import_dnc_csv
    from voicebot.records.db import Database

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        db.create_tables()
        imported = import_dnc_csv(
            db,
            name,
            path.read_text(encoding="utf-8-sig"),
            source or path.name,
            datetime.now(UTC),
            region=region,
        )
    finally:
        db.engine.dispose()
    print(
        f"do-not-call list {imported.name!r}: {imported.entries} numbers imported "
        f"{imported.imported_at:%Y-%m-%d %H:%M} UTC (the gate refuses to rely on it after "
        f"{settings.dnc_max_age_days:g} days)"
    )
    for row in imported.invalid:
        print(f"  skipped line {row.line}: {row.value!r} is not a phone number")
    return 0


def _train_understanding(corpus: Path) -> int:
    from voicebot.understanding.classifier import MODEL_PATH
    from voicebot.understanding.encoder import load_encoder
    from voicebot.understanding.evaluate import report, train

    model, runs = train(load_encoder(), corpus)
    for run in runs:
        print(report(run, show_errors=5), end="\n\n")
    model.save(MODEL_PATH)
    print(f"saved {MODEL_PATH} (corpus {model.corpus})")
    return 0


def _eval_understanding(corpus: Path, errors: int) -> int:
    import os

    from voicebot.understanding.corpus import fingerprint, load_examples, split_files
    from voicebot.understanding.evaluate import evaluate, report
    from voicebot.understanding.model import load_understanding

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # time it on one core
    understanding = load_understanding()
    splits = split_files(corpus)
    if understanding.classifier.corpus != fingerprint(splits["train"]):
        print("warning: the saved model was fitted on another corpus: voicebot train-understanding")
    trained = {e.text.lower().strip() for e in load_examples(splits["train"])}
    held = load_examples(splits["heldout"]) if splits["heldout"] else []
    runs = {
        "train": load_examples(splits["train"]),
        "heldout": held,
        # Short answers ("Speaking.") come up in both; these are the lines no fit saw.
        "heldout, lines not in train": [e for e in held if e.text.lower().strip() not in trained],
    }
    safe = True
    for name, examples in runs.items():
        if not examples:
            continue
        scores = evaluate(understanding, name, examples)
        print(report(scores, show_errors=errors), end="\n\n")
        safe = safe and scores.safe
    return 0 if safe else 1


def _check_line(
    texts: list[str],
    expect: str,
    intent: str | None,
    rating: int | None,
    voices: list[str],
    snr_db: float | None,
    first_name: str,
) -> int:
    """Each line in each voice, whole and cut, as the bot would hear it; 0 if safe to rely on."""
    from voicebot.pipeline.models import get_models
    from voicebot.simulator.linecheck import hear_line, problems, table
    from voicebot.simulator.voices import CallerVoices, check_voice

    for voice in voices:
        try:
            check_voice(voice)
        except ValueError as e:
            raise SystemExit(f"voicebot: {e}") from None
    models = get_models(get_settings())
    caller = CallerVoices(models.piper)
    wanted = "rating" if rating is not None else intent or ""
    found: list[str] = []
    for text in texts:
        readings = [
            reading
            for voice in voices
            for reading in hear_line(
                models, caller, text, voice, expect=expect, first_name=first_name, snr_db=snr_db
            )
        ]
        line = f"{snr_db:g} dB, band-limited" if snr_db is not None else "clean line"
        print(f"{text!r} at the {expect} question, {line}:")
        print(table(readings))
        bad = problems(readings, wanted, rating)
        print("\n".join(f"  PROBLEM {p}" for p in bad) if bad else "  ok", end="\n\n")
        found += bad
    print(f"{len(found)} problem(s) in {len(texts)} line(s)" if found else "every line is safe")
    return 1 if found else 0


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"voicebot: expected numbers separated by commas, got {text!r}") from None
    if any(n < 1 for n in counts):
        raise SystemExit("voicebot: call counts must be at least 1")
    return counts


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

    demo = sub.add_parser("demo", help="run one whole simulated confirmation call and print it")
    demo.add_argument(
        "--campaign",
        nargs="?",
        const="default",
        default=None,
        metavar="FILE",
        help="run a campaign of mixed callbacks instead (default: the built-in one)",
    )

    dnc = sub.add_parser("dnc-import", help="import a do-not-call list from a CSV file")
    dnc.add_argument("name", help="the list's name; a new import replaces that list's numbers")
    dnc.add_argument("csv", type=Path, help="CSV file, the phone number in the first column")
    dnc.add_argument("--region", default=None, help="country for numbers without +, e.g. US")
    dnc.add_argument("--source", default=None, help="where the list came from (default: file name)")

    bench = sub.add_parser("bench", help="response latency and capacity, against stock pipecat")
    bench.add_argument(
        "paths", nargs="*", type=Path, help="scenario files or folders (default tests/scenarios)"
    )
    bench.add_argument(
        "--calls", default="1,4,8", help="concurrent calls per configuration (default 1,4,8)"
    )
    bench.add_argument(
        "--baseline-calls", default="1", help="the same for the stock pipeline ('' for none)"
    )
    bench.add_argument("--sample", type=int, default=8, help="scenarios used (0: all)")
    bench.add_argument("--stagger", type=float, default=2.0, help="spread of first call starts (s)")
    bench.add_argument("--out", type=Path, default=Path("out/bench"), help="JSON and PNG go here")

    key = sub.add_parser("api-key", help="make an API key for a client")
    key.add_argument("name", help="the client's name, as it will appear in VOICEBOT_API_KEYS")
    key.add_argument(
        "--role",
        dest="roles",
        action="append",
        choices=get_args(Role),
        help="backend (default: callbacks, consent), supervisor, product; repeatable",
    )

    corpus = REPO_ROOT / "tests" / "understanding" / "corpus"
    fit = sub.add_parser(
        "train-understanding", help="fit the intent classifier on the corpus's training split"
    )
    fit.add_argument("--corpus", type=Path, default=corpus, help="corpus folder")
    ev = sub.add_parser(
        "eval-understanding", help="precision, recall, false confirmations, missed opt-outs"
    )
    ev.add_argument("--corpus", type=Path, default=corpus, help="corpus folder")
    ev.add_argument("--errors", type=int, default=10, help="errors listed per kind (default 10)")

    check = sub.add_parser(
        "check-line", help="how the bot hears a caller line, whole and cut, in each voice"
    )
    check.add_argument("texts", nargs="+", metavar="TEXT", help="the line(s) a caller says")
    check.add_argument(
        "--expect", required=True, choices=QUESTION_KINDS, help="the kind of question"
    )
    wanted = check.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--intent", help="what the whole line must mean, e.g. affirm, opt_out")
    wanted.add_argument("--rating", type=int, choices=range(1, 6), help="the rating it must give")
    check.add_argument(
        "--voices",
        default="caller-low,caller-high,caller-espeak",
        help="caller voices, separated by commas (default: all three)",
    )
    check.add_argument(
        "--snr", type=float, default=None, help="on a noisy band-limited line, this SNR in dB"
    )
    check.add_argument("--name", default="Alice", help="the customer's first name (identity)")

    args = parser.parse_args(argv)
    # A worker keeps arq's job log (each job, its duration) at INFO whatever --log-level says.
    levels = {"arq": "INFO"} if args.command == "worker" else None
    configure_logging(level=args.log_level, log_format=_log_format(), levels=levels)
    if args.command == "api-key":
        return _api_key(args.name, sorted(set(args.roles or ["backend"])))
    try:
        if args.command == "serve":
            return _serve(args.host, args.port)
        if args.command == "worker":
            return _worker()
        if args.command == "bench":
            return asyncio.run(
                _bench(
                    args.paths,
                    _counts(args.calls),
                    _counts(args.baseline_calls),
                    args.sample,
                    args.stagger,
                    args.out,
                )
            )
        if args.command == "train-understanding":
            return _train_understanding(args.corpus)
        if args.command == "eval-understanding":
            return _eval_understanding(args.corpus, args.errors)
        if args.command == "check-line":
            return _check_line(
                args.texts,
                args.expect,
                args.intent,
                args.rating,
                [v.strip() for v in args.voices.split(",") if v.strip()],
                args.snr,
                args.name,
            )
        if args.command == "dnc-import":
            return _dnc_import(args.name, args.csv, args.region, args.source)
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
        if args.campaign is not None:
            path = None if args.campaign == "default" else Path(args.campaign)
            return asyncio.run(_campaign(path))
        return asyncio.run(_demo())
    except (VoicebotError, OSError) as e:
        print(f"voicebot: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
