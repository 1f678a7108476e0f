"""``emotrans predict``: open-vocabulary emotion prediction with a trained run, on a dataset
(``--input``) or on raw clips (positional paths or folders)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from emotrans.atomic import atomic_path, write_text_atomic
from emotrans.cli.arguments import JOBS, add_threads_option, number
from emotrans.data.dataset import SPLITS
from emotrans.data.formats import formats
from emotrans.errors import ConfigError, DataFormatError, MediaError
from emotrans.training.threads import apply_threads

MEDIA_SUFFIXES = (
    ".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".wav", ".flac", ".mp3",
    ".m4a", ".ogg", ".opus", ".aac",
)  # fmt: skip
"""The files a FOLDER argument contributes (other files in it are ignored)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict any emotion names with a trained run, on a dataset or on raw clips",
        description="Score samples for any emotion names the run's embedding source knows "
        "(also names never seen in training). With --input DATA: one CSV row per sample (id, "
        "one probability column per emotion, the predicted set, and the ranking of the names, best first; names the run was not trained on are named on stderr). With CLIP or FOLDER "
        "arguments: each clip is extracted exactly as the run's training data were (its "
        "extractors, settings, alignment, T and standardisation) and scored; the output has "
        "one probability per emotion and, for the transferable model, each modality's score "
        "(emotion@modality) and fusion weight (weight@modality): logit = sum_m w_m s_m.",
    )
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument(
        "clips",
        nargs="*",
        metavar="CLIP",
        help="media files (mp4, mkv, webm, avi, wav, flac, mp3, ...) or folders of them",
    )
    p.add_argument("--input", help="dataset path (any supported format) or .npz of arrays")
    p.add_argument(
        "--format",
        default="auto",
        help="input dataset format (default: auto, detected from the files; one of: auto, "
        + ", ".join(f.name for f in formats())
        + ")",
    )
    p.add_argument(
        "--split", choices=SPLITS, default="test", help="split of a dataset input (default: test)"
    )
    p.add_argument("--emotions", help="comma-separated emotion names (default: the trained ones)")
    p.add_argument(
        "--threshold", type=float, help="decision threshold of --input (default: the run's)"
    )
    p.add_argument(
        "--transcript", metavar="TEXT", help="what is said in the one CLIP (else recognised)"
    )
    p.add_argument(
        "--transcripts",
        metavar="CSV",
        help="a CSV with columns clip (a path as given, a file name or a stem) and transcript",
    )
    p.add_argument(
        "--out",
        help="file to write: .csv, or .json for clips (one object per clip with every "
        "modality's scores and contributions); required with --input; without it clips "
        "are shown as a table",
    )
    p.add_argument(
        "--skip-failed",
        action="store_true",
        help="report a clip that cannot be processed on stderr and go on (exit 2 at the end "
        "when any failed) instead of stopping at it",
    )
    p.add_argument(
        "--workers",
        type=number(int, JOBS, "--workers"),
        default=1,
        metavar="N",
        help="clips extracted at once, each in its own process (default: 1, one after the "
        "other in this process)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="folder of extracted features (as emotrans extract --cache): a clip extracted "
        "before with the run's extractors is read back, not extracted again (default: none)",
    )
    add_threads_option(p)
    p.set_defaults(func=_predict)


def _emotions(spec: str | None) -> list[str] | None:
    return [e.strip() for e in spec.split(",") if e.strip()] if spec else None


def _predict(args: argparse.Namespace) -> int:
    if args.input and args.clips:
        raise ConfigError("give --input DATA or clips, not both")
    if not args.input and not args.clips:
        raise ConfigError("nothing to predict: give --input DATA, or clips or folders")
    if args.input and (args.workers != 1 or args.cache):
        raise ConfigError("--workers and --cache are for clips; --input is read as it is")
    apply_threads(args.threads)
    if args.input:
        return _predict_data(args)
    return _predict_clips(args)


def _predict_data(args: argparse.Namespace) -> int:
    from emotrans.recognizer import Recognizer, load_input  # deferred: imports torch

    if not args.out:
        raise ConfigError("--input needs --out FILE.csv")
    recognizer = Recognizer.load(args.run_dir)
    data = load_input(args.input, args.format)
    frame = recognizer.predict(
        data, emotions=_emotions(args.emotions), threshold=args.threshold, split=args.split
    )
    with atomic_path(args.out) as tmp:
        if Path(args.out).suffix.lower() == ".json":
            frame.to_json(tmp, orient="records", indent=1)
        else:
            frame.to_csv(tmp, index=False, float_format="%.6f")
    names = [c for c in frame.columns if c not in ("id", "predicted", "ranking")]
    print(f"{len(frame)} predictions for {', '.join(names)} written to {args.out}")
    untrained = frame.attrs.get("untrained_emotions") or []
    if untrained:
        print(
            f"emotrans: not trained on {', '.join(untrained)}: scored zero-shot through their "
            f"embeddings (trained on {', '.join(recognizer.trained_emotions)})",
            file=sys.stderr,
        )
    return 0


def clip_paths(items: list[str]) -> list[str]:
    """The clips named: files as given, folders expanded to their media files (sorted)."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f) for f in p.iterdir() if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES
            )
            if not found:
                raise MediaError(
                    f"{p}: a folder without media files ({', '.join(MEDIA_SUFFIXES[:6])}, ...)"
                )
            out.extend(found)
        else:
            out.append(item)  # a missing file is a one-line MediaError from the recogniser
    return out


def _read_transcripts(path: str) -> dict[str, str]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise DataFormatError(f"--transcripts {path}: {exc.strerror or exc}") from None
    if not rows or "transcript" not in rows[0] or not ({"clip", "path"} & set(rows[0])):
        raise DataFormatError(f"--transcripts {path}: needs columns clip (or path) and transcript")
    key = "clip" if "clip" in rows[0] else "path"
    return {str(r[key]).strip(): str(r["transcript"] or "") for r in rows if r.get(key)}


def _predict_clips(args: argparse.Namespace) -> int:
    from emotrans.recognizer import Recognizer, clip_frame  # deferred: imports torch

    if args.transcript and args.transcripts:
        raise ConfigError("give --transcript or --transcripts, not both")
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--out {out}: write a .csv or a .json file")
    recognizer = Recognizer.load(args.run_dir)
    paths = clip_paths(args.clips)
    transcripts: str | dict[str, str] | None = None
    if args.transcript:
        if len(paths) != 1:
            raise ConfigError(
                f"--transcript is for one clip ({len(paths)} given); use --transcripts"
            )
        transcripts = args.transcript
    elif args.transcripts:
        transcripts = _read_transcripts(args.transcripts)
    failed: list[str] = []

    def report(name: str, error: MediaError) -> None:
        failed.append(name)
        print(f"emotrans: skipped: {error}", file=sys.stderr)

    emotions = _emotions(args.emotions)
    preds = recognizer.explain_clips(
        paths,
        emotions,
        transcripts,
        on_error=report if args.skip_failed else None,
        workers=args.workers,
        cache_dir=args.cache,
    )
    names = emotions or recognizer.trained_emotions
    if out is None:
        print(render_table(preds))
    elif out.suffix.lower() == ".json":
        write_text_atomic(out, json.dumps([p.to_dict() for p in preds], indent=1) + "\n")
    else:
        with atomic_path(out) as tmp:
            clip_frame(preds, names, recognizer.modalities).to_csv(
                tmp, index=False, float_format="%.6f"
            )
    if out is not None:
        print(f"{len(preds)} clips scored for {', '.join(names)}, written to {out}")
    if failed:
        print(f"emotrans: {len(failed)} of {len(paths)} clips failed", file=sys.stderr)
        return 2
    return 0


def render_table(preds: list) -> str:
    """A readable block per clip: probability per emotion (highest first) and, for the
    transferable model, each modality's contribution w_m * s_m to the logit."""
    blocks = []
    for p in preds:
        head = f"{p.clip}  ({p.duration:.1f} s" if math.isfinite(p.duration) else f"{p.clip}  (?"
        head += f", {p.seconds:.1f} s to score)"
        if p.transcript is not None:
            head += f"\n  transcript ({p.transcript_source}): {p.transcript}"
        mods = list(p.contributions or {})
        cols = ["emotion", "prob", "logit", *mods]
        rows = []
        for n in p.ranking:
            mark = "" if n in p.trained_emotions else " *"
            row = [n + mark, f"{p.probabilities[n]:.3f}", f"{p.logits[n]:+.3f}"]
            row += [f"{p.contributions[m][n]:+.3f}" for m in mods]
            rows.append(row)
        widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
        lines = [
            "  "
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
            for r in [cols, *rows]
        ]
        if mods:
            weights = ", ".join(f"{m} {w:.3f}" for m, w in (p.fusion_weights or {}).items())
            lines.append(f"  logit = sum of the modality columns (w_m * s_m); weights: {weights}")
        if len(p.trained_emotions) < len(p.emotions):
            lines.append("  * not a training label: scored zero-shot through its embedding")
        blocks.append("\n".join([head, *lines]))
    return "\n\n".join(blocks)
