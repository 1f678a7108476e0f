"""The default thread count on a shared machine: training throughput next to one competing
CPU-bound process, the default (``--threads 0``, automatic) against each count set by hand.

Starts a busy-looping process, then trains the default transferable model for one epoch on
``--n`` variable-length CMU-MOSEI-shaped samples (as ``bench_train.py``) in a fresh process
per setting, in turns (``--rounds``), and reports each setting's best throughput and the
ratio best-by-hand / default (the promise: at most 1.3x). ``--no-competitor`` measures the
idle machine instead.

    python benchmarks/bench_threads.py [--n 512] [--rounds 2] [--counts 1,2] [--no-competitor]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import logging, sys, torch
sys.path.insert(0, {here!r})
logging.basicConfig(level=logging.INFO, format="%(message)s")
from emotrans.training.threads import apply_threads
from bench_train import make_split, emotrans_epoch
n = apply_threads({threads})
emb = torch.nn.functional.normalize(torch.randn(6, 384), dim=1)
speed = emotrans_epoch(make_split({n}), emb, 1)
print("RESULT", n, speed)
"""


def run_once(threads: int, n: int) -> tuple[int, float]:
    code = CHILD.format(here=str(HERE), threads=threads, n=n)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # let it choose
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    line = [x for x in out.splitlines() if x.startswith("RESULT")][0].split()
    return int(line[1]), float(line[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--counts", default=",".join(str(c) for c in range(1, (os.cpu_count() or 1) + 1))
    )
    ap.add_argument("--no-competitor", action="store_true")
    args = ap.parse_args()
    settings = [0] + [int(c) for c in args.counts.split(",")]
    competitor = None
    if not args.no_competitor:
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
    best: dict[int, float] = dict.fromkeys(settings, 0.0)
    chosen: list[int] = []
    try:
        for r in range(args.rounds):
            for threads in settings[r % len(settings) :] + settings[: r % len(settings)]:
                used, speed = run_once(threads, args.n)
                if threads == 0:
                    chosen.append(used)
                best[threads] = max(best[threads], speed)
                print(
                    f"round {r} threads {threads or 'default'} ({used}): {speed:.1f} samples/s",
                    flush=True,
                )
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    hand = max((t for t in settings if t), key=lambda t: best[t])
    print(
        f"{'one competing CPU-bound process' if competitor else 'no competitor'}, "
        f"{os.cpu_count()} CPUs, N {args.n}, best of {args.rounds} rounds"
    )
    print(f"default (automatic, chose {sorted(set(chosen))} threads): {best[0]:.1f} samples/s")
    for t in settings[1:]:
        print(f"--threads {t}: {best[t]:.1f} samples/s")
    print(f"best by hand (--threads {hand}) / default: {best[hand] / best[0]:.2f}x (target <= 1.3)")


if __name__ == "__main__":
    main()
