"""Loading CMU-MOSEI emotion at full size from the reference h5 layout: time and peak memory.

Writes full-size synthetic CMU-MOSEI h5 files (16,326 / 1,871 / 4,659 samples, 20 steps,
300/74/35 features: about 0.75 GB of float32 arrays) into a temporary folder (or ``--dir``),
warms the page cache, then measures, each in a fresh Python process (best of ``--repeat``):

(a) reading every array with h5py directly (``f["d1"][()]``), and
(b) ``emotrans.data.load(DIR)`` (read, replace non-finite values, measure lengths, labels).

Peak memory is ``ru_maxrss``; the figure compared with the arrays' size is its growth during
the load (the interpreter with numpy and h5py imported is the baseline). Targets: peak growth
<= 1.3x the arrays' bytes, time <= 1.2x the raw h5py read.

    python benchmarks/bench_load_mosei.py [--dir DIR] [--repeat 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_COMMON = r"""
import json, resource, sys, time


def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
"""

_WRITE = r"""
import sys
from emotrans.data import write_synthetic
write_synthetic(sys.argv[1], "mosei", "mosei-h5", float(sys.argv[2]), 0, "random:0")
"""

_RAW = (
    _COMMON
    + r"""
from pathlib import Path
import h5py, numpy as np
import emotrans.data
folder = Path(sys.argv[1])
files = sorted(folder.glob("*.h5"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hwm_before = hwm_kb()
cpu = time.process_time()
start = time.perf_counter()
arrays = []
for path in files:
    with h5py.File(path, "r") as f:
        arrays.append(f["d1"][()])
seconds = time.perf_counter() - start
cpu = time.process_time() - cpu
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_before_kb": before, "rss_peak_kb": after,
                  "hwm_before_kb": hwm_before, "hwm_kb": hwm_kb(),
                  "array_bytes": int(sum(a.nbytes for a in arrays))}))
"""
)

_EMOTRANS = (
    _COMMON
    + r"""
from pathlib import Path
import h5py, numpy as np
import emotrans.data
from emotrans.data import load
folder = Path(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hwm_before = hwm_kb()
cpu = time.process_time()
start = time.perf_counter()
ds = load(folder)
seconds = time.perf_counter() - start
cpu = time.process_time() - cpu
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
total = 0
for s in ds.splits.values():
    total += sum(x.nbytes for x in s.features.values()) + s.intensities.nbytes
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_before_kb": before, "rss_peak_kb": after,
                  "hwm_before_kb": hwm_before, "hwm_kb": hwm_kb(),
                  "array_bytes": int(total), "nonfinite": int(sum(ds.nonfinite.values()))}))
"""
)


def measure(code: str, folder: Path, repeat: int) -> dict:
    """Best wall and CPU time and the highest memory peak over ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    best["cpu"] = min(r["cpu"] for r in runs)
    best["rss_growth_kb"] = max(r["rss_peak_kb"] - r["rss_before_kb"] for r in runs)
    best["hwm_growth_kb"] = max(r["hwm_kb"] - r["hwm_before_kb"] for r in runs)
    best["seconds_all"] = [round(r["seconds"], 3) for r in runs]
    return best


def _best(runs: list[dict]) -> dict:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cpu"] = min(r["cpu"] for r in runs)
    best["rss_growth_kb"] = max(r["rss_growth_kb"] for r in runs)
    best["hwm_growth_kb"] = max(r["hwm_growth_kb"] for r in runs)
    best["seconds_all"] = [r["seconds_all"][0] for r in runs]
    return best


def warm(folder: Path) -> None:
    """Read every file once in small pieces, so both readers start from the page cache."""
    for path in folder.glob("*.h5"):
        with open(path, "rb", buffering=0) as handle:
            while handle.read(1 << 22):
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="folder for the h5 files (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir) if args.dir else Path(tmp) / "mosei"
        if not (folder / "ey_train.h5").is_file():
            # In a child process: this one must stay small, as its peak memory is inherited
            # by the measuring processes' ru_maxrss.
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", _WRITE, str(folder), str(args.scale)], check=True)
            print(f"wrote synthetic CMU-MOSEI h5 files in {time.perf_counter() - start:.1f} s")
        warm(folder)
        raw, ours = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            raw.append(measure(_RAW, folder, 1))
            ours.append(measure(_EMOTRANS, folder, 1))
        raw, ours = _best(raw), _best(ours)

    gb = raw["array_bytes"] / 1e9
    print(f"arrays: {gb:.3f} GB of float32 (features and labels)")
    for name, r in (("h5py raw read", raw), ("emotrans load", ours)):
        growth = r["rss_growth_kb"] * 1024
        print(
            f"{name:<14} wall {r['seconds']:6.3f} s (runs {r['seconds_all']}), CPU "
            f"{r['cpu']:.3f} s; peak RSS {r['rss_peak_kb'] / 1e6:.3f} GB, growth "
            f"{growth / 1e9:.3f} GB = {growth / raw['array_bytes']:.2f}x arrays "
            f"(VmHWM growth {r['hwm_growth_kb'] * 1024 / raw['array_bytes']:.2f}x)"
        )
    time_ratio = ours["seconds"] / raw["seconds"]
    cpu_ratio = ours["cpu"] / raw["cpu"]
    mem_ratio = ours["rss_growth_kb"] * 1024 / raw["array_bytes"]
    print(
        f"emotrans / raw: wall {time_ratio:.2f}x, CPU {cpu_ratio:.2f}x (target <= 1.2x); "
        f"emotrans peak growth / arrays: {mem_ratio:.2f}x (target <= 1.3x); "
        f"non-finite replaced: {ours['nonfinite']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
