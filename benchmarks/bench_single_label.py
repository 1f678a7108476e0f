"""The two emotion objectives and the argmax decision on generated single-label data.

For each seed, generates IEMOCAP-4 (4 classes, 33/30/18/19 %) and IEMOCAP-9 (9 classes, from
34 % down to 0.02 %) with a planted signal, trains the transferable model once with the
binary objective (K BCEs with pos_weight, the paper's) and once with the softmax objective,
and scores the test split's predicted class four ways:

* binary, raw argmax: the argmax of the logits, which carry the shift log(pos_weight_k);
* binary, full shift: the argmax of logit_k - log(pos_weight_k);
* binary, decision: the run's own decision, logit_k - a log(pos_weight_k) with a chosen on
  the validation weighted F1 (``metrics.json``);
* softmax: the argmax of the logits.

Prints accuracy, weighted F1 and macro F1 (mean ± std over seeds) and the majority class's.

    python benchmarks/bench_single_label.py --seeds 0 1 2 --scale 0.3 --epochs 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emotrans.config import RunConfig
from emotrans.data.synthetic import generate
from emotrans.metrics import ARGMAX_KEYS, argmax_metrics
from emotrans.training.batches import TensorSplit
from emotrans.training.inference import predict_logits
from emotrans.training.pipeline import fit_run
from emotrans.training.trainer import pos_weights

SETTINGS = dict(batch_size=32, lr=5e-3, pooling="mean", layers=1, hidden_audio=32, hidden_vision=16)
ROWS = ("majority class", "binary, raw argmax", "binary, full shift", "binary, decision", "softmax")


def _figures(labels, scores, names):
    m = argmax_metrics(labels, scores, names)
    return [m[k] for k in ARGMAX_KEYS]


def one_seed(dataset: str, seed: int, scale: float, epochs: int, emb: str) -> dict[str, list]:
    ds, _ = generate(dataset, scale=scale, seed=seed, embeddings=emb)
    test, names = ds["test"], list(ds.emotions)
    counts = ds["train"].labels.sum(0)
    majority = np.zeros_like(test.labels, dtype=float)
    majority[:, int(counts.argmax())] = 1.0
    out = {"majority class": _figures(test.labels, majority, names)}
    for objective in ("binary", "softmax"):
        config = RunConfig(
            embeddings=emb, epochs=epochs, early_stop=epochs, seed=seed, objective=objective,
            threads=2, **SETTINGS,
        )  # fmt: skip
        run = fit_run(config, ds)
        logits = predict_logits(run.model, TensorSplit.from_split(test, run.model.modalities))
        if objective == "softmax":
            out["softmax"] = _figures(test.labels, logits, names)
            continue
        shift = np.log(pos_weights(ds["train"].labels))
        offsets = np.asarray(run.info["logit_offsets"])
        out["binary, raw argmax"] = _figures(test.labels, logits, names)
        out["binary, full shift"] = _figures(test.labels, logits - shift, names)
        out["binary, decision"] = _figures(test.labels, logits - offsets, names)
        out["binary, decision"].append(float(np.max(offsets / np.where(shift, shift, 1))))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["iemocap", "iemocap9"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scale", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--embeddings", default="random:0:16")
    args = p.parse_args()
    for dataset in args.datasets:
        start = time.perf_counter()
        per_seed = [
            one_seed(dataset, s, args.scale, args.epochs, args.embeddings) for s in args.seeds
        ]
        print(f"\n{dataset}, scale {args.scale}, seeds {args.seeds}, {args.epochs} epochs "
              f"({time.perf_counter() - start:.0f} s)\n")  # fmt: skip
        print("| | accuracy | weighted F1 | macro F1 |")
        print("|---|---:|---:|---:|")
        for row in ROWS:
            values = np.array([r[row][:3] for r in per_seed])  # (seeds, 3)
            cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(values.mean(0), values.std(0))]
            print(f"| {row} | " + " | ".join(cells) + " |")
        scales = [r["binary, decision"][3] for r in per_seed]
        print(f"\nfraction a of log(pos_weight) chosen on validation: {scales}")


if __name__ == "__main__":
    main()
