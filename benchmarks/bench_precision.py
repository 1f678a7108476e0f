"""bf16 autocast on CPU: throughput and whether its metrics stay within seed noise.

Trains the default transferable model on generated CMU-MOSEI data (``--scale``, default 0.1)
for each of ``--seeds`` seeds in fp32 and in bf16 autocast, with the same settings as
``make demo`` (at most ``--epochs`` epochs, early-stopping patience 3), and reports the test
average weighted accuracy and AUC per precision as mean and standard deviation over seeds,
the largest per-seed difference, and the throughput (training samples per second of epoch
time, validation included).

    python benchmarks/bench_precision.py [--scale 0.1] [--seeds 3] [--epochs 10] [--threads 2]
        [--padding aligned|packed|reference]

PyTorch's CPU autocast runs the LSTMs in bf16 only on unpacked input: with the default exact
encoders (``--padding aligned``, unpacked passes) the LSTMs run in bf16; with
``--padding packed`` only the small linear layers change precision.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--padding",
        default="aligned",
        choices=("aligned", "packed", "reference"),
        help="encoder padding mode (bf16 autocast reaches the LSTMs only unpacked: not 'packed')",
    )
    args = ap.parse_args()

    from emotrans.config import RunConfig
    from emotrans.data import write_synthetic
    from emotrans.training.pipeline import train_run
    from emotrans.training.rundir import RunDir

    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic(Path(tmp, "data"), "mosei", "mosei-h5", args.scale, 0, "default")
        results: dict[str, list[tuple[float, float, float]]] = {"fp32": [], "bf16": []}
        for seed in range(args.seeds):
            for precision in results:
                config = RunConfig(
                    data=str(data),
                    seed=seed,
                    epochs=args.epochs,
                    early_stop=3,
                    precision=precision,
                    threads=args.threads,
                    device="cpu",
                    padding=args.padding,
                )
                run = train_run(config, Path(tmp, f"{precision}-{seed}"))
                test = run.metrics["splits"]["test"]["average"]
                epochs = RunDir(run.path).history()
                seconds = sum(float(r["seconds"]) for r in epochs)
                speed = run.metrics["train_samples"] * len(epochs) / seconds
                results[precision].append((test["wacc"], test["auc"], speed))
                print(
                    f"seed {seed} {precision}: test wacc {test['wacc']:.4f} auc "
                    f"{test['auc']:.4f}, {speed:.0f} samples/s",
                    flush=True,
                )
    arrays = {p: np.array(r) for p, r in results.items()}
    for p, a in arrays.items():
        print(
            f"{p}: test wacc {a[:, 0].mean():.4f} +- {a[:, 0].std(ddof=1) if len(a) > 1 else 0:.4f}, "
            f"auc {a[:, 1].mean():.4f} +- {a[:, 1].std(ddof=1) if len(a) > 1 else 0:.4f}, "
            f"{a[:, 2].mean():.0f} samples/s"
        )
    diff = np.abs(arrays["bf16"][:, 0] - arrays["fp32"][:, 0])
    print(
        f"bf16 vs fp32: throughput {arrays['bf16'][:, 2].mean() / arrays['fp32'][:, 2].mean():.2f}x, "
        f"largest per-seed wacc difference {diff.max():.4f}, "
        f"fp32 seed std {arrays['fp32'][:, 0].std(ddof=1) if len(diff) > 1 else float('nan'):.4f}"
    )


if __name__ == "__main__":
    main()
