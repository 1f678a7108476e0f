"""Exact encoders and length-grouped batches: test metrics and throughput over seeds.

Trains the default transferable model on generated CMU-MOSEI data (``--scale``, default 0.1)
with one emotion held out (``--zsl``, default anger), for each of ``--seeds`` seeds and each
mode: ``packed`` (exact, packed sequences, random batches: the former default), ``aligned``
(exact, unpacked passes per direction, random batches) and ``aligned+length`` (with
``--batching length``: the default) and ``reference`` (the paper's function: padded rows run
through the LSTMs, so a row's output depends on its padding). It reports,
per mode, the test average weighted accuracy and AUC of the seen emotions and the zero-shot
AUC of the held-out one (mean and standard deviation over seeds) and the training throughput
(training samples per second of epoch time, validation included), with each mode's ratio to
``packed``. Modes run in turns within a seed, so a busy machine slows them alike.

    python benchmarks/bench_padding.py [--scale 0.1] [--seeds 3] [--epochs 6] [--threads 1]
        [--zsl anger]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

MODES = {
    "packed": {"padding": "packed", "batching": "random"},
    "aligned": {"padding": "aligned", "batching": "random"},
    "aligned+length": {"padding": "aligned", "batching": "length"},
    "reference": {"padding": "reference", "batching": "random"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--zsl", default="anger", help="held-out emotion ('' for none)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    args = ap.parse_args()

    from emotrans.config import RunConfig
    from emotrans.data import write_synthetic
    from emotrans.training.pipeline import train_run
    from emotrans.training.rundir import RunDir

    modes = args.modes.split(",")
    rows: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic(Path(tmp, "data"), "mosei", "mosei-h5", args.scale, 0, "default")
        for seed in range(args.seeds):
            for i in range(len(modes)):
                mode = modes[(i + seed) % len(modes)]  # rotate the order between seeds
                config = RunConfig(
                    data=str(data),
                    seed=seed,
                    epochs=args.epochs,
                    early_stop=3,
                    threads=args.threads,
                    device="cpu",
                    zsl=[args.zsl] if args.zsl else [],
                    **MODES[mode],
                )
                run = train_run(config, Path(tmp, f"{mode}-{seed}"))
                test = run.metrics["splits"]["test"]["average"]
                zsl = run.metrics.get("zsl", {}).get("unseen_metrics", {}).get("average", {})
                history = RunDir(run.path).history()
                seconds = sum(float(r["seconds"]) for r in history)
                speed = run.metrics["train_samples"] * len(history) / seconds
                row = (test["wacc"], test["auc"], float(zsl.get("auc", np.nan)), speed)
                rows[mode].append(row)
                print(
                    f"seed {seed} {mode:15s}: seen wacc {row[0]:.4f} auc {row[1]:.4f}, "
                    f"zero-shot auc {row[2]:.4f}, {speed:.0f} samples/s",
                    flush=True,
                )
    base = np.array(rows[modes[0]])
    print(
        f"\n{args.seeds} seeds, {args.scale:.0%} scale, at most {args.epochs} epochs, "
        f"{args.threads} thread(s), held out: {args.zsl or 'none'}"
    )
    print("| mode | seen WA | seen AUC | zero-shot AUC | samples/s | vs " + modes[0] + " |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        a = np.array(rows[mode])
        sd = a.std(0, ddof=1) if len(a) > 1 else np.zeros(4)
        print(
            f"| {mode} | {a[:, 0].mean():.4f} +- {sd[0]:.4f} | {a[:, 1].mean():.4f} +- "
            f"{sd[1]:.4f} | {a[:, 2].mean():.4f} +- {sd[2]:.4f} | {a[:, 3].mean():.0f} | "
            f"{a[:, 3].mean() / base[:, 3].mean():.2f}x |"
        )


if __name__ == "__main__":
    main()
