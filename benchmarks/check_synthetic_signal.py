"""How much of the synthetic generator's planted signal a simple model recovers.

Generates a synthetic dataset (full CMU-MOSEI size by default) and prints, on the test split,
the average weighted accuracy (WA) of

* the generator's oracle (its balanced decision, sigmoid(logit) > 0.5), and
* a logistic regression (balanced class weights, C chosen on valid) per emotion on each
  sample's mean over valid steps of the features, for all modalities together and each
  modality alone;

and the zero-shot ceiling: the ROC AUC of each emotion predicted from the other emotions'
oracle scores through the embedding geometry (``emotrans.data.synthetic.zero_shot_ceiling``),
the best a model trained without that emotion can do.

The generator is calibrated so that at full MOSEI size the oracle's average WA is about 0.80
and the all-modality logistic regression comes within about 2 points of it.

    python benchmarks/check_synthetic_signal.py [--dataset mosei] [--scale 1.0]
        [--embeddings random:0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def mean_features(split, modalities) -> np.ndarray:
    """Mean over each sample's valid steps, modalities concatenated: (N, sum D)."""
    parts = []
    for m in modalities:
        x = split.features[m]  # (N, T, D), zero on padded steps
        lengths = np.maximum(split.lengths[m], 1)[:, None]
        parts.append(x.sum(axis=1) / lengths)  # (N, D)
    return np.concatenate(parts, axis=1)


def wacc(y: np.ndarray, pred: np.ndarray) -> float:
    """Balanced accuracy of one binary label."""
    y, pred = y.astype(bool), pred.astype(bool)
    if y.all() or not y.any():
        return float("nan")
    return float(((pred & y).sum() / y.sum() + (~pred & ~y).sum() / (~y).sum()) / 2)


def logistic_wa(train, valid, test, modalities) -> tuple[float, float]:
    """Test average WA of per-emotion logistic regressions, C chosen on valid; returns
    (WA, C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(mean_features(train, modalities))
    x = {
        name: scaler.transform(mean_features(s, modalities))
        for name, s in (("train", train), ("valid", valid), ("test", test))
    }
    best = (-1.0, 0.0, 0.0)
    for c in (1.0, 0.1, 0.01, 0.001):
        valid_wa, test_wa = [], []
        for k in range(train.labels.shape[1]):
            y = train.labels[:, k]
            if y.all() or not y.any():
                continue
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
            model.fit(x["train"], y)
            valid_wa.append(wacc(valid.labels[:, k], model.predict(x["valid"])))
            test_wa.append(wacc(test.labels[:, k], model.predict(x["test"])))
        if np.nanmean(valid_wa) > best[0]:
            best = (float(np.nanmean(valid_wa)), float(np.nanmean(test_wa)), c)
    return best[1], best[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mosei")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embeddings", default="random:0")
    args = parser.parse_args()

    from emotrans.data.synthetic import generate

    start = time.perf_counter()
    ds, oracle = generate(args.dataset, args.scale, args.seed, args.embeddings)
    print(
        f"generated {args.dataset} x{args.scale} ({args.embeddings}) in "
        f"{time.perf_counter() - start:.1f} s: "
        + ", ".join(f"{k} {s.n}" for k, s in ds.splits.items())
    )
    test = ds["test"]
    logits = oracle["test"]["logits"]
    oracle_wa = np.nanmean(
        [wacc(test.labels[:, k], logits[:, k] > 0) for k in range(len(ds.emotions))]
    )
    print(f"oracle                 average WA (test): {oracle_wa:.4f}")
    if len(ds.emotions) > 2:
        from emotrans.data.synthetic import make_world, zero_shot_ceiling

        world = make_world(args.seed, args.embeddings)
        vectors = np.stack([world.vectors[n] for n in ds.emotions])
        ceiling = zero_shot_ceiling(test.labels, logits, vectors)
        print(
            "zero-shot ceiling      ROC AUC (test) of each emotion from the others' oracle "
            "scores: "
            + ", ".join(f"{n} {a:.3f}" for n, a in zip(ds.emotions, ceiling))
            + f"; average {np.nanmean(ceiling):.3f}"
        )
    for modalities in (("text", "audio", "vision"), ("text",), ("audio",), ("vision",)):
        start = time.perf_counter()
        wa, c = logistic_wa(ds["train"], ds["valid"], test, modalities)
        print(
            f"logistic {'+'.join(m[0] for m in modalities):<4}          average WA (test): "
            f"{wa:.4f}  (oracle - {100 * (oracle_wa - wa):.1f} points; C={c} chosen on valid; "
            f"{time.perf_counter() - start:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
