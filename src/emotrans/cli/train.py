"""``emotrans train`` and ``emotrans evaluate``."""

from __future__ import annotations

import argparse
import json
import sys

from emotrans.cli.arguments import add_log_option, add_threads_option
from emotrans.cli.settings import add_config_arguments, config_from_args
from emotrans.config import read_settings_file
from emotrans.data.dataset import SPLITS
from emotrans.training.report import argmax_table, metrics_table, multilabel_line
from emotrans.training.rundir import json_safe
from emotrans.training.tensorboard import check_writers
from emotrans.training.threads import apply_threads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and write a run directory",
        description="Train a model on a dataset and write a run directory (config.json, "
        "model.safetensors, metrics.json, history.csv, report.md). Every setting can also "
        "come from --config FILE (YAML or TOML, same keys as the flags).",
    )
    p.add_argument("--out", required=True, help="run directory to create")
    p.add_argument("--config", help="YAML/TOML/JSON file of settings (flags override it)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run at --out (or an interrupted one staged beside it)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a run killed mid-training (staged in .NAME.partial beside --out) from "
        "its last finished epoch; it ends as the uninterrupted run would",
    )
    add_log_option(p, "OUT/tensorboard")
    add_config_arguments(p)
    p.set_defaults(func=_train)

    e = sub.add_parser(
        "evaluate",
        help="recompute a run's metrics",
        description="Reload a run directory and recompute its metrics; with the run's data and "
        "emotions they equal metrics.json.",
    )
    e.add_argument("run_dir", help="a finished run directory")
    e.add_argument("--data", help="dataset path (default: the run's)")
    e.add_argument(
        "--split", choices=SPLITS, default="test", help="split to evaluate (default: test)"
    )
    e.add_argument("--emotions", help="comma-separated emotion names to score instead")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_threads_option(e)
    e.set_defaults(func=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from emotrans.training.pipeline import train_run  # deferred: imports torch

    check_writers(args.log)  # a missing package is refused before anything is read
    base = read_settings_file(args.config) if args.config else None
    config = config_from_args(args, base, base_where=str(args.config))
    if not args.quiet:
        print(
            f"emotrans: training {config.model} ({config.modalities}) on {config.data} "
            f"with {config.embeddings} embeddings, seed {config.seed}",
            file=sys.stderr,
        )

    def announce(model, n_params: int) -> None:
        if not args.quiet:
            print(
                f"emotrans: {config.model}: {n_params:,} trainable parameters, "
                f"emotions {', '.join(model.emotions)}",
                file=sys.stderr,
            )

    result = train_run(
        config,
        args.out,
        progress=not args.quiet,
        overwrite=args.overwrite,
        on_start=announce,
        resume=args.resume,
        log=args.log,
    )
    m = result.metrics
    if not args.quiet:
        print(
            f"\n{m['model']}: {result.num_parameters:,} parameters, best epoch "
            f"{m['best_epoch']} of {m['epochs_run']} (selected on validation {m['select_metric']}), "
            f"{result.seconds:.0f} s\n"
        )
        print(f"Test metrics ({m['dataset']}, {m['splits']['test']['n']} samples):\n")
        print(metrics_table(m["splits"]["test"]))
        line = multilabel_line(m["splits"]["test"])
        if line:
            print("\n" + line)
        single = argmax_table(m["splits"]["test"])
        if single:
            print("\n" + single)
        if "zsl" in m:
            print(f"\nZero-shot, unseen {', '.join(m['zsl']['unseen'])}:\n")
            print(metrics_table(m["zsl"]["unseen_metrics"]))
        if "oracle" in m:
            print(
                f"\nGenerator oracle average weighted accuracy: "
                f"{m['oracle']['test']['average']['wacc']:.3f} (the best achievable)."
            )
        print(f"\nRun directory: {result.path}  (report.md, metrics.json, model.safetensors)")
    else:
        print(result.path)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from emotrans.training.pipeline import evaluate_run  # deferred: imports torch

    apply_threads(args.threads)
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()] if args.emotions else None
    m = evaluate_run(args.run_dir, data=args.data, split=args.split, emotions=emotions)
    if args.json:
        print(json.dumps(json_safe(m), indent=2))
    else:
        print(metrics_table(m))
        line = multilabel_line(m)
        if line:
            print("\n" + line)
        single = argmax_table(m)
        if single:
            print("\n" + single)
    return 0
