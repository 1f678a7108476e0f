"""``emotrans extract``: raw clips (a CSV manifest or a raw release) -> one native dataset.

Progress goes to stderr (a tqdm bar on a terminal; otherwise a plain line every few seconds,
no carriage returns). Every clip that failed is written to ``<out>.failures.json`` and shown
as a table; with failures the command exits 2 naming their count and writes no dataset,
unless ``--skip-failed``, which writes the dataset of the clips that worked and lists the
skipped ones in its ``extraction`` record.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from emotrans.atomic import write_text_atomic
from emotrans.cli.arguments import JOBS, number
from emotrans.config import NON_NEGATIVE
from emotrans.data.formats.native import read_manifest, save_native
from emotrans.errors import ConfigError, EmotransError, MediaError
from emotrans.experiments.executor import RayPool
from emotrans.media.extractors.registry import extractor_class, extractor_names
from emotrans.media.layouts.registry import layout_names, read_layout
from emotrans.media.pipeline import (
    DEFAULT_EXTRACTORS,
    DEFAULT_TIMING,
    UNALIGNED_RATES,
    ClipFailure,
    Progress,
    extract_dataset,
    make_settings,
    settings_like,
)
from emotrans.modalities import MODALITIES

FAILURES_SUFFIX = ".failures.json"
_PLAIN_EVERY = 5.0  # seconds between two progress lines when stderr is not a terminal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract features from raw clips (CSV manifest, MELD, IEMOCAP, CMU-MOSI/MOSEI raw)",
        description="Extract text, audio and vision features from raw clips, align them to the "
        "words (or keep each modality's own rate with --unaligned) and write one native "
        "emotrans .h5 file that `emotrans train --data` and `emotrans predict --input` read. "
        "SOURCE is a CSV manifest (path, optional start, end, transcript, split; a label "
        "column or one 0/1 column per emotion) or the folder of a raw release. Extraction "
        "runs in a pool of workers, caches each clip (an interrupted run resumes) and reports "
        "every clip that failed.",
    )
    p.add_argument("source", metavar="LAYOUT_OR_MANIFEST", help="a CSV manifest or a raw folder")
    p.add_argument("--out", required=True, metavar="FILE.h5", help="the native file to write")
    p.add_argument(
        "--layout",
        choices=layout_names(),
        help="the raw layout (default: detected from SOURCE)",
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a layout option, e.g. labels=full for IEMOCAP, seed=1 for a manifest (VALUE is "
        "read as JSON when it parses, else as text); repeatable",
    )
    for m in ("audio", "vision", "text"):
        p.add_argument(
            f"--{m}",
            metavar="NAME",
            help=f"{m} extractor ('none' to leave {m} out; registered: "
            f"{', '.join(extractor_names()) or 'none yet'}). Without any of --audio, "
            f"--vision, --text: {', '.join(f'{k}={v}' for k, v in DEFAULT_EXTRACTORS.items())}",
        )
    p.add_argument(
        "--extractor-setting",
        action="append",
        default=[],
        metavar="MODALITY.KEY=VALUE",
        help="a setting of one modality's extractor, e.g. audio.xxx=1 (VALUE read as JSON "
        "when it parses); repeatable",
    )
    p.add_argument(
        "--allow-no-face",
        action="store_true",
        help="keep clips in which the face extractor finds no face at all (zero vision rows) "
        "instead of reporting them as failed",
    )
    p.add_argument(
        "--like",
        metavar="DATA.h5",
        help="extract exactly as DATA.h5 was extracted (its extractors, versions, settings, "
        "alignment and T, from its record): for new clips to predict with a run trained on it",
    )
    p.add_argument(
        "--unaligned",
        action="store_true",
        help="keep each modality at its own rate (audio averaged to --audio-rate rows per "
        "second, vision per frame, text per word) instead of one row per word",
    )
    p.add_argument(
        "--seq-len",
        metavar="T",
        help="steps kept per clip (the last T, zeros in front): one number, or per modality "
        "as audio=200,vision=300,text=50 (defaults: aligned 50; unaligned text 50, audio "
        "200, vision 300)",
    )
    p.add_argument(
        "--audio-rate",
        type=number(float, NON_NEGATIVE, "--audio-rate"),
        default=UNALIGNED_RATES["audio"],
        metavar="HZ",
        help="unaligned audio rows per second (default %(default)s; 0: the extractor's rate)",
    )
    p.add_argument(
        "--timing",
        default=DEFAULT_TIMING,
        metavar="MODULE:FUNCTION",
        help="word timing for clips without the dataset's own: a function clip -> Words "
        "(default %(default)s: forced alignment of the transcript, else speech recognition)",
    )
    p.add_argument(
        "--raw-values",
        action="store_true",
        help="keep the extractors' raw values (default: audio and vision z-scored per "
        "dimension with the train split's statistics, recorded for --like)",
    )
    p.add_argument(
        "--workers",
        type=number(int, JOBS, "--workers"),
        default=1,
        metavar="N",
        help="parallel workers",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="per-clip cache folder (default: FILE.cache beside --out; 'off' for none)",
    )
    p.add_argument(
        "--skip-failed",
        action="store_true",
        help="write the dataset without the clips that failed (they are listed in its record "
        "and in FILE.failures.json) instead of exiting with status 2",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes, or a Ray cluster (the grids' executor; pip install "
        "'emotrans[ray]'), with the same cache and failure report",
    )
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address (default: auto)")
    p.set_defaults(func=run)


def _options(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _setting_names(name: str) -> set[str]:
    """The settings an extractor takes (empty when it is unknown or cannot be imported)."""
    try:
        return {f.name for f in dataclasses.fields(extractor_class(name).Settings)}
    except (EmotransError, TypeError):
        return set()


def _seq_len(spec: str | None) -> int | dict[str, int] | None:
    if not spec:
        return None
    try:
        if "=" not in spec:
            return int(spec)
        out = {}
        for part in spec.split(","):
            m, _, t = part.partition("=")
            if m.strip() not in MODALITIES:
                raise ConfigError(f"--seq-len {spec}: unknown modality {m.strip()!r}")
            out[m.strip()] = int(t)
        return out
    except ValueError:
        raise ConfigError(f"--seq-len {spec}: expected T or modality=T,...") from None


class _Reporter:
    """Progress on stderr: tqdm on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.tty = sys.stderr.isatty()
        self.bar = None
        self.last = 0.0
        if not quiet and self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="clip", file=sys.stderr, desc="extract")

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=p.failed, cached=p.cached, refresh=False)
            return
        now = time.monotonic()
        if now - self.last >= _PLAIN_EVERY or p.done == p.total:
            self.last = now
            from tqdm import tqdm

            meter = tqdm.format_meter(p.done, p.total, p.elapsed, unit="clip", ncols=0)
            print(
                f"extract: {meter}, {p.failed} failed, {p.cached} from cache",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _table(failures: list[ClipFailure], limit: int = 20) -> str:
    rows = [("clip", "split", "stage", "reason")] + [
        (f.id, f.split, f.stage, f.reason) for f in failures[:limit]
    ]
    widths = [min(40, max(len(r[i]) for r in rows)) for i in range(3)]
    lines = [
        "  ".join(str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(r[:3])) + "  " + r[3]
        for r in rows
    ]
    if len(failures) > limit:
        lines.append(f"... and {len(failures) - limit} more")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: a folder; give the .h5 file to write")
    raw = read_layout(args.source, args.layout, **_options(args.option))
    if args.like:
        record = read_manifest(args.like).get("extraction")
        if not record:
            raise ConfigError(f"--like {args.like}: not made by emotrans extract (no record)")
        settings = settings_like(record)
    else:
        extractor_settings: dict[str, dict[str, Any]] = {}
        for key, value in _options(args.extractor_setting).items():
            m, _, name = key.partition(".")
            if m not in MODALITIES or not name:
                raise ConfigError(f"--extractor-setting {key}: expected MODALITY.KEY=VALUE")
            extractor_settings.setdefault(m, {})[name] = value
        vision = args.vision or (None if any((args.audio, args.text)) else "face")
        if vision and "require_face" in _setting_names(vision):
            extractor_settings.setdefault("vision", {}).setdefault(
                "require_face", not args.allow_no_face
            )
        settings = make_settings(
            args.audio,
            args.vision,
            args.text,
            aligned=not args.unaligned,
            seq_len=_seq_len(args.seq_len),
            audio_rate=args.audio_rate or None,
            timing=args.timing,
            extractor_settings=extractor_settings,
        )
        if args.raw_values:
            settings = dataclasses.replace(settings, standardize=False)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be at least 1")
    cache = None if args.cache == "off" else (args.cache or str(out.with_suffix(".cache")))
    pool = None
    if args.executor == "ray":
        pool = RayPool(args.workers, address=args.ray_address)
    counts = raw.counts()
    print(
        f"emotrans: {raw.name}: {len(raw.clips)} clips ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
        f"{len(raw.emotions)} emotions; extracting "
        + ", ".join(f"{m} {name}" for m, (name, _) in settings.extractors.items())
        + (" (unaligned)" if args.unaligned else " (aligned to words)"),
        file=sys.stderr,
    )
    reporter = _Reporter(len(raw.clips), args.quiet)
    try:
        result = extract_dataset(
            raw, settings, cache_dir=cache, workers=args.workers, pool=pool, progress=reporter
        )
    finally:
        reporter.close()
    report_path = out.with_name(out.name + FAILURES_SUFFIX)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(report_path, json.dumps(result.report(), indent=1) + "\n")
    if result.failures:
        print(_table(result.failures), file=sys.stderr)
        if not args.skip_failed:
            raise MediaError(
                f"{len(result.failures)} of {len(raw.clips)} clips failed (listed in "
                f"{report_path}); fix them, or pass --skip-failed to write the dataset without "
                "them"
            )
    save_native(result.dataset, out)
    record = result.record
    timing = ", ".join(f"{k} {v}" for k, v in record["timing"]["counts"].items() if v)
    print(
        f"wrote {out}: "
        + ", ".join(f"{k} {s.n}" for k, s in result.dataset.splits.items())
        + f"; {record['clips']['failed']} skipped, {record['clips']['from_cache']} from cache"
        + (f"; word timing: {timing}" if timing else "")
    )
    return 0
