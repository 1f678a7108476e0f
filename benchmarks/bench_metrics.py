"""Time of compute_metrics on a CMU-MOSEI test split (4,659 x 6 predictions).

Compares emotrans' vectorised metrics with a loop of scikit-learn calls per emotion
(balanced_accuracy_score, f1_score(average="weighted"), roc_auc_score, accuracy_score) and
checks that both give the same numbers. Target: median under 20 ms.

    python benchmarks/bench_metrics.py [--n 4659] [--k 6] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def sklearn_loop(y: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> list[dict]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    out = []
    for k in range(y.shape[1]):
        t, p = y[:, k], (probs[:, k] > threshold).astype(int)
        out.append(
            {
                "wacc": balanced_accuracy_score(t, p),
                "f1": f1_score(t, p, average="weighted"),
                "auc": roc_auc_score(t, probs[:, k]),
                "acc": accuracy_score(t, p),
            }
        )
    return out


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4659)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from emotrans.metrics import compute_metrics

    rng = np.random.default_rng(0)
    y = (rng.random((args.n, args.k)) < 0.25).astype(np.uint8)
    logits = rng.normal(size=(args.n, args.k)) + 1.5 * y
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)  # float32 like a model's output
    names = [f"emotion{k}" for k in range(args.k)]

    ours = median_ms(lambda: compute_metrics(y, probs, names), args.repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = median_ms(lambda: sklearn_loop(y, probs), max(3, args.repeats // 3))
        reference = sklearn_loop(y, probs)
    got = compute_metrics(y, probs, names)["per_emotion"]
    worst = max(
        abs(got[name][key] - reference[k][key]) for k, name in enumerate(names) for key in got[name]
    )
    print(f"compute_metrics on {args.n} x {args.k} predictions ({args.repeats} repeats)")
    print(f"  emotrans (vectorised)   median {ours:8.2f} ms   target < 20 ms")
    print(f"  scikit-learn loop       median {ref:8.2f} ms   ({ref / ours:.1f}x slower)")
    print(f"  largest difference from scikit-learn: {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
