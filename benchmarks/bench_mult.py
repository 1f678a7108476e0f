"""MulT training throughput (CMU-MOSEI-sized aligned data) and peak memory (unaligned IEMOCAP).

Throughput: the emotrans Trainer training the MulT baseline (padding masks, row-relative
positions) against a minimal plain-PyTorch MulT training loop written below (same widths,
heads, layers, dropouts; no masks, positions 0..T-1, as a reference loop would), on the same
random tensors (N samples, T=20, dims 300/74/35, variable lengths, 6 labels), batch 64, Adam,
clip 1.0, in the same process. Target: at least 0.9x the plain loop.

Memory: a few training steps of the Trainer on unaligned IEMOCAP-sized data (T text 20,
audio 400, vision 500; dims 300/74/35; 4 labels; batch 64) in a fresh subprocess; its peak
resident memory. Target: under 4 GB.

    python benchmarks/bench_mult.py [--n 2048] [--epochs 1] [--threads 2] [--repeats 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from _plain_loop import plain_loop_throughput  # benchmarks/, on sys.path when run as a script

DIMS = {"text": 300, "audio": 74, "vision": 35}
WIDTH, HEADS, LAYERS = 40, 10, 4
ATTN, RELU, RES, OUT, EMBED = 0.25, 0.1, 0.1, 0.1, 0.3


def make_split(n: int, steps: dict[str, int], k: int, seed: int = 0, full_length=False):
    from emotrans.data.dataset import Split

    rng = np.random.default_rng(seed)
    feats, lengths = {}, {}
    for m, d in DIMS.items():
        t = steps[m]
        length = np.full(n, t) if full_length else rng.integers(t // 2, t + 1, n)
        x = rng.standard_normal((n, t, d), dtype=np.float32)
        x[np.arange(t)[None, :] < (t - length)[:, None]] = 0
        feats[m], lengths[m] = x, length.astype(np.int64)
    labels = (rng.random((n, k)) < 0.25).astype(np.uint8)
    return Split(
        features=feats, lengths=lengths, labels=labels, ids=np.array([str(i) for i in range(n)])
    )


# -- the plain reference loop ----------------------------------------------------------------


class PlainLayer(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, HEADS, dropout=ATTN, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, kv=None):
        q = self.ln1(x)
        kv = q if kv is None else self.ln1(kv)
        x = x + F.dropout(self.attn(q, kv, kv, need_weights=False)[0], RES, self.training)
        h = F.dropout(F.relu(self.fc1(self.ln2(x))), RELU, self.training)
        return x + F.dropout(self.fc2(h), RES, self.training)


def plain_positions(t: int, d: int) -> torch.Tensor:
    pos = torch.arange(t, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(d // 2, dtype=torch.float32) * (-math.log(10000.0) / (d // 2)))
    return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], 1)  # (T, d)


class PlainEncoder(nn.Module):
    def __init__(self, d: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(PlainLayer(d) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.d = d

    def embed(self, x):
        x = math.sqrt(self.d) * x + plain_positions(x.shape[1], self.d)
        return F.dropout(x, EMBED, self.training)

    def forward(self, x, kv=None):
        x = self.embed(x)
        kv = None if kv is None else self.embed(kv)
        for layer in self.layers:
            x = layer(x, kv)
        return self.ln(x)


class PlainMulT(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        mods = list(DIMS)
        self.proj = nn.ModuleDict({m: nn.Conv1d(DIMS[m], WIDTH, 1, bias=False) for m in mods})
        self.cross = nn.ModuleDict(
            {f"{t}{s}": PlainEncoder(WIDTH, LAYERS) for t in mods for s in mods if s != t}
        )
        self.mem = nn.ModuleDict({t: PlainEncoder(2 * WIDTH, max(LAYERS, 3)) for t in mods})
        self.proj1, self.proj2 = nn.Linear(6 * WIDTH, 6 * WIDTH), nn.Linear(6 * WIDTH, 6 * WIDTH)
        self.out = nn.Linear(6 * WIDTH, k)

    def forward(self, x):
        x = dict(x)
        x["text"] = F.dropout(x["text"], EMBED, self.training)
        h = {m: self.proj[m](x[m].transpose(1, 2)).transpose(1, 2) for m in x}
        last = []
        for t in h:
            seq = torch.cat([self.cross[f"{t}{s}"](h[t], h[s]) for s in h if s != t], 2)
            last.append(self.mem[t](seq)[:, -1])
        z = torch.cat(last, 1)
        z = z + self.proj2(F.dropout(F.relu(self.proj1(z)), OUT, self.training))
        return self.out(z)


def plain_throughput(split, epochs: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    return plain_loop_throughput(PlainMulT(split.labels.shape[1]), split, epochs)


# -- emotrans ----------------------------------------------------------------------------------


def emotrans_fit(split, epochs: int, precision: str = "fp32"):
    from emotrans.config import RunConfig
    from emotrans.models.mult import MulT
    from emotrans.training.batches import TensorSplit
    from emotrans.training.trainer import Trainer, pos_weights

    cfg = RunConfig(model="mult", epochs=epochs, early_stop=100, precision=precision)
    model = MulT.from_config(cfg, DIMS, 0)
    model.set_emotions([f"e{i}" for i in range(split.labels.shape[1])])
    train = TensorSplit.from_split(split, model.modalities)
    tiny_valid = TensorSplit.from_split(split.subset(np.arange(64)), model.modalities)
    fit = Trainer(cfg, select_key="wacc").fit(model, train, tiny_valid, pos_weights(split.labels))
    return fit, model


def emotrans_throughput(split, epochs: int, precision: str = "fp32") -> float:
    fit, _ = emotrans_fit(split, epochs, precision)
    return split.n * epochs / sum(r["seconds"] for r in fit.history)


def memory_child(steps: int, threads: int) -> None:
    """Run in a subprocess: ``steps`` training batches on unaligned IEMOCAP-sized data."""
    torch.set_num_threads(threads)
    split = make_split(64 * steps, {"text": 20, "audio": 400, "vision": 500}, k=4, seed=1)
    start = time.perf_counter()
    emotrans_fit(split, 1)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PEAK_RSS_MB {peak:.0f} SECONDS {seconds:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="alternating throughput runs")
    ap.add_argument("--steps", type=int, default=3, help="training batches for the memory run")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.steps, args.threads)
        return 0
    torch.set_num_threads(args.threads)
    aligned = {m: 20 for m in DIMS}
    split = make_split(args.n, aligned, k=6)
    plain_throughput(make_split(128, aligned, k=6), 1)  # warm-up
    emotrans_throughput(make_split(128, aligned, k=6), 1)
    plain = ours = 0.0
    for _ in range(args.repeats):  # alternate, keep the best of each (the machine may be shared)
        plain = max(plain, plain_throughput(split, args.epochs))
        ours = max(ours, emotrans_throughput(split, args.epochs))
    print(f"MulT training, aligned CMU-MOSEI-sized data: N {args.n}, T 20, dims 300/74/35")
    print(
        f"threads {args.threads}, batch 64, width {WIDTH}, heads {HEADS}, layers {LAYERS}, "
        f"best of {args.repeats}"
    )
    print(f"  plain PyTorch loop : {plain:7.1f} samples/s")
    print(f"  emotrans Trainer   : {ours:7.1f} samples/s  ({ours / plain:.3f}x plain, target 0.9x)")
    if not args.skip_memory:
        cmd = [sys.executable, __file__, "--memory-child", "--steps", str(args.steps)]
        out = subprocess.run(
            [*cmd, "--threads", str(args.threads)], check=True, capture_output=True, text=True
        ).stdout
        line = [x for x in out.splitlines() if x.startswith("PEAK_RSS_MB")][0].split()
        print(
            f"unaligned IEMOCAP-sized data (T 20/400/500), {args.steps} training batches of 64: "
            f"peak RSS {float(line[1]):.0f} MB (target < 4096 MB), {line[3]} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
