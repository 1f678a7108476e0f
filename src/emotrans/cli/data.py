"""``emotrans data``: generate synthetic datasets, inspect and convert dataset files."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from emotrans.cli.arguments import number
from emotrans.config import SEEDS, Interval
from emotrans.data import detect_format, load, save_native
from emotrans.data.coverage import empty_row_warnings, empty_rows
from emotrans.data.formats import formats, writable_formats
from emotrans.data.synthetic import SPECS, write_synthetic
from emotrans.errors import DataFormatError

_CSD_MODULE = "emotrans.cli.data_csd"


def _format_help() -> str:
    """``--format`` help of inspect and convert, from the format registry."""
    listed = "; ".join(f"{f.name}: {f.description}" for f in formats())
    return f"dataset format, detected from the files by default (auto; {listed})"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="generate, inspect and convert datasets",
        description="Generate synthetic datasets with a planted signal, inspect dataset "
        "files, and convert them to the native emotrans format.",
    )
    data_subparsers = p.add_subparsers(
        dest="data_command",
        metavar="ACTION",
        help="`emotrans data ACTION --help` shows its options",
    )
    p.set_defaults(func=lambda args: _no_action(p))

    s = data_subparsers.add_parser(
        "synth",
        help="write a synthetic dataset with a planted signal",
        description="Write a synthetic dataset of the real sizes and shapes (times --scale) in "
        "one of the supported formats, with the generator's oracle scores (oracle.npz), its "
        "settings (synthetic.json) and the emotion vectors it used (emotion_vectors.json).",
    )
    s.add_argument("--dataset", choices=list(SPECS), default="mosei", help="default: mosei")
    usual = ", ".join(f"{name} -> {spec.default_format}" for name, spec in SPECS.items())
    s.add_argument(
        "--format",
        choices=[f.name for f in writable_formats()],
        default=None,
        help=f"file format (default: the dataset's usual one: {usual})",
    )
    s.add_argument(
        "--scale",
        type=number(float, Interval(0, 1000, low_open=True), "--scale"),
        default=1.0,
        help="multiplies every split size (rounded half up, at least 8 per split; default 1)",
    )
    s.add_argument(
        "--seed",
        type=number(int, SEEDS, "--seed"),
        default=0,
        help="world and sample seed (default 0)",
    )
    s.add_argument(
        "--embeddings",
        default="default",
        help="embedding source of the emotion vectors: default, random:SEED[:DIM], dict:PATH, "
        "glove:PATH, ... (default: default, the embedded sentence model)",
    )
    s.add_argument("--out", required=True, help="output directory (new, or a previous output)")
    s.set_defaults(func=_synth)

    i = data_subparsers.add_parser(
        "inspect",
        help="summarise a dataset: splits, shapes, label counts, non-finite values",
        description="Load a dataset (any supported format) and print its splits, sample "
        "counts, steps and dimensions per modality, label counts per emotion, the rows with "
        "no valid step (all features of a modality zero; a warning when over 20%) and the "
        "number of non-finite feature values replaced by 0.",
    )
    i.add_argument("path", help="dataset directory or file")
    input_formats = ["auto", *(f.name for f in formats())]
    i.add_argument("--format", choices=input_formats, default="auto", help=_format_help())
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    i.set_defaults(func=_inspect)

    c = data_subparsers.add_parser(
        "convert",
        help="convert a dataset to the native emotrans format (one .h5 file)",
        description="Load a dataset in any supported format and write it as one native "
        "emotrans .h5 file.",
    )
    c.add_argument("path", help="dataset directory or file")
    c.add_argument("--format", choices=input_formats, default="auto", help=_format_help())
    c.add_argument("--out", required=True, help="output file (.h5), or a directory")
    c.set_defaults(func=_convert)

    if importlib.util.find_spec(_CSD_MODULE):
        importlib.import_module(_CSD_MODULE).register(data_subparsers)


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


def _synth(args: argparse.Namespace) -> int:
    fmt = args.format or SPECS[args.dataset].default_format
    out = write_synthetic(
        args.out,
        dataset=args.dataset,
        format=fmt,
        scale=args.scale,
        seed=args.seed,
        embeddings=args.embeddings,
    )
    settings = json.loads((out / "synthetic.json").read_text(encoding="utf-8"))
    sizes = " / ".join(f"{n:,} {k}" for k, n in settings["sizes"].items())
    print(
        f"wrote synthetic {settings['dataset']} ({fmt}, scale {args.scale:g}, seed {args.seed}, "
        f"embeddings {args.embeddings}) to {out}: {sizes}"
    )
    test = settings["oracle"].get("test", {}).get("average_wacc")
    if test is not None:
        print(f"oracle average weighted accuracy on test: {test:.3f} (the best achievable)")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    if args.path.lower().endswith(".csd"):
        if importlib.util.find_spec(_CSD_MODULE) is None:
            raise DataFormatError(
                f"{args.path}: reading .csd files needs emotrans.cli.data_csd, which is not "
                "installed"
            )
        return int(importlib.import_module(_CSD_MODULE).inspect_command(args) or 0)
    fmt = detect_format(args.path) if args.format == "auto" else args.format
    dataset = load(args.path, format=fmt)
    report = inspect_report(dataset)
    report["format"] = fmt
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def _convert(args: argparse.Namespace) -> int:
    dataset = load(args.path, format=args.format)
    out = Path(args.out)
    if out.is_dir():
        out = out / f"{dataset.name}.h5"
    save_native(dataset, out)
    sizes = " / ".join(f"{s.n:,} {k}" for k, s in dataset.splits.items())
    print(f"wrote {out} (native emotrans format, {dataset.name}: {sizes})")
    return 0


def inspect_report(dataset: Any) -> dict[str, Any]:
    """The JSON-serialisable summary printed by ``emotrans data inspect``."""
    report = dataset.summary()
    report["format"] = dataset.meta.get("format", "")
    report["dims"] = dataset.dims
    for name, split in dataset.splits.items():
        lengths = {}
        for m, x in split.lengths.items():
            lengths[m] = (
                {"min": int(x.min()), "mean": round(float(x.mean()), 2), "max": int(x.max())}
                if x.size
                else {"min": 0, "mean": 0.0, "max": 0}
            )
        report["splits"][name]["lengths"] = lengths
    report["nonfinite_total"] = int(sum(dataset.nonfinite.values()))
    report["empty_rows"] = empty_rows(dataset)
    report["warnings"] = empty_row_warnings(report["empty_rows"])
    return report


def _empty_rows_table(report: dict[str, Any]) -> list[str]:
    """Rows with no valid step per split and modality, then the warnings, then a blank line."""
    counts = report.get("empty_rows") or {}
    if not counts:
        return []
    modalities = report["modalities"]
    lines = [f"{'no valid step':<14}" + "".join(f"  {m:>16}" for m in modalities)]
    for name, per in counts.items():
        cells = "".join(
            f"  {'{:,} ({:.1%})'.format(per[m]['rows'], per[m]['fraction']):>16}"
            for m in modalities
            if m in per
        )
        lines.append(f"{name:<14}{cells}")
    lines.extend(f"warning: {w}" for w in report.get("warnings", []))
    lines.append("")
    return lines


def format_report(report: dict[str, Any]) -> str:
    """A human-readable table of an :func:`inspect_report`."""
    lines = [
        f"{report['source']}",
        f"  dataset {report['name']}, format {report['format'] or '?'}, "
        f"{'aligned' if report['aligned'] else 'unaligned'}, "
        + (
            "task sentiment (one score in [-3, 3])"
            if report.get("task") == "sentiment"
            else f"task emotion, {len(report['emotions'])} emotions, "
            + (
                "single-label (one per sample)"
                if report.get("single_label")
                else "multi-label (any number per sample)"
            )
        )
        + f", modalities {', '.join(report['modalities'])}",
        "",
    ]
    splits = report["splits"]
    modalities = report["modalities"]
    header = f"{'split':<8}{'N':>8}" + "".join(f"  {m + ' T x D':>18}" for m in modalities)
    lines.append(header)
    for name, s in splits.items():
        cells = "".join(f"  {'{} x {}'.format(*s['shapes'][m][1:]):>18}" for m in modalities)
        lines.append(f"{name:<8}{s['n']:>8,}{cells}")
    lines.append("")
    width = max([len("positives"), *(len(e) for e in report["emotions"])])
    lines.append(f"{'positives':<{width}}" + "".join(f"  {k:>8}" for k in splits))
    for e in report["emotions"]:
        lines.append(
            f"{e:<{width}}" + "".join(f"  {s['positives'][e]:>8,}" for s in splits.values())
        )
    if report.get("task") == "sentiment":
        lines.append("")
        lines.append(f"{'score':<8}{'mean':>8}{'min':>8}{'max':>8}{'< 0':>8}{'= 0':>8}{'> 0':>8}")
        for name, sp in splits.items():
            sc = sp.get("scores") or {}
            lines.append(
                f"{name:<8}{sc.get('mean', float('nan')):>8.2f}{sc.get('min', float('nan')):>8.2f}"
                f"{sc.get('max', float('nan')):>8.2f}{sc.get('negative', 0):>8,}"
                f"{sc.get('zero', 0):>8,}{sc.get('positive', 0):>8,}"
            )
    lines.append("")
    lines.extend(_empty_rows_table(report))
    found = {k: v for k, v in report["nonfinite_replaced"].items() if v}
    if found:
        detail = ", ".join(f"{k} {v:,}" for k, v in found.items())
        lines.append(
            f"non-finite feature values replaced by 0: {report['nonfinite_total']:,} ({detail})"
        )
    else:
        lines.append("non-finite feature values: none")
    return "\n".join(lines)
