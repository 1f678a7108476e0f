"""``emotrans data from-csd`` and ``emotrans data inspect X.csd``: CMU-MultimodalSDK files.

Plugged into the ``emotrans data`` group by :mod:`emotrans.cli.data`, which calls
:func:`register` with its sub-parsers and :func:`inspect_command` for ``.csd`` paths.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from emotrans.atomic import check_output, write_text_atomic
from emotrans.cli.arguments import SEQ_LEN, WORKERS, number
from emotrans.config import NON_NEGATIVE
from emotrans.data import save_native
from emotrans.data.csd import EPS, inspect_csd, open_csd
from emotrans.data.csd_align import COLLAPSES, convert_csd
from emotrans.data.folds import SDK_SOURCES, Folds, dataset_of_videos, is_folds_name, load_folds
from emotrans.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``from-csd`` to the ``emotrans data`` sub-commands."""
    p = sub.add_parser(
        "from-csd",
        help="convert CMU-MultimodalSDK .csd files (words, COVAREP, FACET, labels) to native",
        description="Align CMU-MultimodalSDK computational sequences to the words and then to "
        "the labelled segments, as the SDK does (mean of the frames within each word, zeros "
        "for words with no frame, one sample per labelled segment, the last --seq-len steps "
        "with zeros in front), split them by the folds, and write one native emotrans .h5 "
        "file. By default a video missing from some file removes only itself; --sdk-compat "
        "reproduces the current SDK's tensors exactly, including its removal of every video "
        "whose id starts with a missing one's.",
    )
    p.add_argument(
        "--text",
        required=True,
        metavar="CSD",
        help="words / GloVe vectors .csd (the reference sequence)",
    )
    p.add_argument("--audio", metavar="CSD", help="acoustic features .csd, e.g. COVAREP")
    p.add_argument("--vision", metavar="CSD", help="visual features .csd, e.g. FACET 4.2")
    p.add_argument(
        "--labels",
        required=True,
        metavar="CSD",
        help="labels .csd: CMU-MOSEI 'All Labels' (sentiment, happy, sad, anger, surprise, "
        "disgust, fear) or a 1-column sentiment file (CMU-MOSI opinion labels)",
    )
    p.add_argument(
        "--folds",
        required=True,
        metavar="FOLDS",
        help="standard folds: 'mosi' or 'mosei' (shipped with emotrans; 'sdk' picks one from "
        "the label file), or a path: a JSON file {train, valid, test: [video ids]}, the SDK's "
        "*_std_folds.py (read, never run), or a text file ('<split> <id>' per line, or "
        "[train]/[valid]/[test] sections). A value without '/' or '.' is a name; write "
        "./NAME for a file so called",
    )
    p.add_argument(
        "--seq-len",
        type=number(int, SEQ_LEN, "--seq-len"),
        default=20,
        metavar="T",
        help="steps per sample, the last ones kept (default 20)",
    )
    p.add_argument(
        "--sdk-compat",
        action="store_true",
        help="reproduce the current SDK's tensors exactly, its id-prefix removal of videos "
        "included (removing a missing '25522' also removes '255224')",
    )
    p.add_argument(
        "--collapse",
        choices=COLLAPSES,
        default="mean",
        help="how the frames within one word are combined (default mean)",
    )
    p.add_argument(
        "--eps",
        type=number(float, NON_NEGATIVE, "--eps"),
        default=EPS,
        help=f"interval tolerance in seconds (default {EPS:g}, the SDK's)",
    )
    p.add_argument(
        "--workers",
        type=number(int, WORKERS, "--workers"),
        default=0,
        help="processes aligning videos in parallel (default 0: one per CPU, up to 4, from 400 "
        "videos on; 1: none)",
    )
    p.add_argument(
        "--task",
        choices=("emotion", "sentiment"),
        default=None,
        help="what to keep from the labels: the six emotions of CMU-MOSEI's 7-column 'All "
        "Labels' (default for 7 columns), or the sentiment score in [-3, 3] (column 0 of 'All "
        "Labels'; the only choice, and the default, for a 1-column file such as CMU-MOSI's "
        "CMU_MOSI_Opinion_Labels.csd)",
    )
    p.add_argument("--report", metavar="JSON", help="also write the conversion report here")
    p.add_argument("--out", required=True, help="output file (.h5), or a directory")
    p.set_defaults(func=from_csd_command)


def from_csd_command(args: argparse.Namespace) -> int:
    """Run ``emotrans data from-csd``."""
    out = Path(args.out)
    if args.report:
        check_output(args.report)  # a bad --report path fails before the .h5 is written
    with _progress_bar("aligning", "video") as update:
        result = convert_csd(
            args.text,
            args.labels,
            resolve_folds(args.folds, args.labels),
            audio=args.audio,
            vision=args.vision,
            seq_len=args.seq_len,
            sdk_compat=args.sdk_compat,
            eps=args.eps,
            collapse=args.collapse,
            workers=args.workers,
            progress=update,
            task=args.task,
        )
    result.dataset.meta["csd_report"] = result.report.to_dict()
    if out.is_dir():  # named after what was converted: mosei.h5, mosei-senti.h5, mosi.h5
        out = out / f"{result.dataset.name}.h5"
    save_native(result.dataset, out)
    if args.report:
        write_text_atomic(args.report, json.dumps(result.report.to_dict(), indent=2))
    for line in result.report.lines():
        print(line)
    mode = "sdk-compat" if args.sdk_compat else "exact video ids"
    print(
        f"wrote {out} (native emotrans format, T = {args.seq_len}, {mode}) in "
        f"{result.report.seconds:.1f} s"
    )
    return 0


def resolve_folds(folds: str, labels: str) -> Folds:
    """The folds ``--folds`` names; the alias ``sdk`` stands for the shipped standard folds of
    the dataset the label file belongs to (CMU-MOSI or CMU-MOSEI: from its file name, else from
    its video ids)."""
    if is_folds_name(folds) and folds.strip().lower() in SDK_SOURCES:
        stem = Path(labels).name.lower()
        dataset = "mosei" if "mosei" in stem else "mosi" if "mosi" in stem else None
        if dataset is None:
            with open_csd(labels) as csd:
                dataset = dataset_of_videos(list(csd))
        if dataset is None:
            raise ConfigError(
                f"--folds {folds}: {labels} holds no video of CMU-MOSI's or CMU-MOSEI's "
                "standard folds; pass --folds mosi, --folds mosei or a folds file"
            )
        return load_folds(folds, dataset=dataset)
    return load_folds(folds)


def inspect_command(args: argparse.Namespace) -> int:
    """Run ``emotrans data inspect X.csd`` (``args.path``; ``args.json`` for JSON)."""
    with _progress_bar("checking", "video") as update:
        report = inspect_csd(args.path, progress=update)
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(format_inspection(report))
    return 0


def format_inspection(report: dict[str, Any]) -> str:
    """The table printed by ``emotrans data inspect X.csd``."""
    spread = report["rows_per_video"]
    names = report["dimension_names"]
    if names:
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} names)" if len(names) > 8 else "")
        if len(names) != report["dim"]:
            shown += f"  [{len(names)} names for {report['dim']} dimensions]"
    else:
        shown = "none in the metadata"
    lines = [
        f"{report['path']}",
        f"  computational sequence {report['root_name']!r}",
        f"  videos           {report['videos']:,}",
        f"  rows             {report['rows']:,} (per video: min {spread['min']:,}, median "
        f"{spread['median']:,.0f}, max {spread['max']:,})",
        f"  dimensions       {report['dim']} ({report['dtype']})",
        f"  dimension names  {shown}",
        f"  seconds covered  {report['seconds']:,.1f}",
    ]
    for key, label in (
        ("computational sequence description", "description"),
        ("dataset name", "dataset"),
        ("alignment compatible", "alignable"),
    ):
        if key in report["metadata"]:
            lines.append(f"  {label:<16} {report['metadata'][key]}")
    lines.append("")
    problems = report["problems"]
    labels = {
        "row_count_mismatch": "videos whose features and intervals row counts differ",
        "bad_shape": "videos with missing or misshapen arrays",
        "inconsistent_dim": "videos with another feature dimension",
        "nan": "interval rows with NaN",
        "negative": "interval rows with a negative time",
        "reversed": "interval rows ending before they start",
        "shorter_than_eps": "interval rows shorter than 1e-05 s (no alignment to them)",
        "overlapping": "interval rows overlapping an earlier row",
        "out_of_order": "interval rows stored before an earlier-starting row",
    }
    lines.append("interval sanity")
    for key, text in labels.items():
        lines.append(f"  {problems.get(key, 0):>10,}  {text}")
    if report["examples"]:
        lines.append("")
        lines.append("examples")
        lines.extend(f"  {e}" for e in report["examples"])
    return "\n".join(lines)


class _progress_bar:
    """A tqdm bar on stderr (hidden when stderr is not a terminal) fed by ``update(done,
    total)``."""

    def __init__(self, desc: str, unit: str) -> None:
        self.desc, self.unit = desc, unit
        self.bar: Any = None

    def __enter__(self) -> Any:
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, disable=None, leave=False)
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
