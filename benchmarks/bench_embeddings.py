"""Streaming extraction of emotion words from a big GloVe-format file: speed and memory.

Writes a GloVe-format text file of random 300-d vectors and random words (default 1 GiB, in
a temporary folder), then measures, each in a fresh subprocess:

- cold: the file's pages are dropped from the page cache (``posix_fadvise`` on this file
  only), then ``cat FILE > /dev/null`` and a full extraction of 20 words are timed: the
  realistic case of a big file read from disk;
- warm ``cat FILE > /dev/null``: the fastest the file can be read here (page cache);
- extracting 20 words spread over the whole file (one is the last line), so the whole file is
  read: wall time of ``embed()`` and the process's peak resident memory (ru_maxrss);
- the same 20 words again: answered from the on-disk cache;
- 20 words found in the first 10% of the file: reading stops early;
- one unknown word among 20: the whole file is read and close spellings are suggested.

Run: ``python benchmarks/bench_embeddings.py [--size-mb 1024] [--dir DIR] [--keep] [--warm-only]``.
Peak RSS is the subprocess's VmHWM (Linux), else its ``getrusage`` ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 300
N_WANTED = 20

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from emotrans.embeddings import load_source
from emotrans.errors import EmbeddingError
spec, names = sys.argv[1], json.loads(sys.argv[2])
t1 = time.perf_counter()
error = None
try:
    out = load_source(spec).embed(names)
    shape = list(out.shape)
except EmbeddingError as exc:
    shape, error = None, str(exc)
t2 = time.perf_counter()
# VmHWM is this process's own peak RSS; ru_maxrss can carry the parent's peak over exec.
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as fh:
        peak_kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"import_s": t1 - t0, "embed_s": t2 - t1, "shape": shape, "error": error,
                  "maxrss_mb": peak_kb / 1024}))
"""


def _random_words(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(4, 13, size=n)
    return ["".join(rng.choice(letters, size=k)) for k in lengths]


def write_glove(path: Path, size_bytes: int, seed: int = 0) -> tuple[int, list[str], list[str]]:
    """Write ~size_bytes of GloVe lines; return (lines, words spread over it, early words)."""
    rng = np.random.default_rng(seed)
    # A pool of formatted vectors reused across lines keeps generation fast.
    pool = [
        " ".join(f"{x:.5f}" for x in rng.standard_normal(DIM) * 0.4).encode() + b"\n"
        for _ in range(256)
    ]
    line_bytes = sum(len(p) for p in pool) / len(pool) + 9
    n_lines = max(int(size_bytes / line_bytes), 10 * N_WANTED)
    words = [f"{w}{i}".encode() for i, w in enumerate(_random_words(rng, n_lines))]
    spread = sorted(set(np.linspace(0, n_lines - 1, N_WANTED).astype(int).tolist()))
    early = sorted(rng.choice(n_lines // 10, size=N_WANTED, replace=False).tolist())
    pick = rng.integers(0, len(pool), size=n_lines)
    with open(path, "wb") as fh:
        block = []
        for i in range(n_lines):
            block.append(words[i] + b" " + pool[pick[i]])
            if len(block) == 4096:
                fh.write(b"".join(block))
                block = []
        fh.write(b"".join(block))
    return (
        n_lines,
        [words[i].decode() for i in spread],
        [words[i].decode() for i in early],
    )


def _evict(path: Path) -> None:
    """Ask the kernel to drop this file's pages from the page cache (this file only)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def _child(spec: str, names: list[str], env: dict[str, str]) -> dict:
    wall, out = _timed([sys.executable, "-c", _CHILD, spec, json.dumps(names)], env)
    result = json.loads(out)
    result["wall_s"] = wall
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024, help="file size in MiB")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the file")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="skip the cold-read figures (file evicted from the page cache with "
        "posix_fadvise DONTNEED, this file only)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench_emb_", dir=args.dir))
    try:
        path = folder / "glove.bench.300d.txt"
        t0 = time.perf_counter()
        n_lines, spread, early = write_glove(path, int(args.size_mb * 2**20))
        size = path.stat().st_size
        print(
            f"file: {path} ({size / 2**30:.2f} GiB, {n_lines:,} lines of {DIM}-d), "
            f"written in {time.perf_counter() - t0:.1f} s"
        )

        env = {**os.environ, "EMOTRANS_CACHE": str(folder / "cache")}
        cat = ["sh", "-c", f"cat '{path}' > /dev/null"]
        spec = f"glove:{path}"
        if not args.warm_only:
            _evict(path)
            cold_cat = _timed(cat, env)[0]
            _evict(path)
            r = _child(spec, spread, {**env, "EMOTRANS_CACHE": "off"})
            print(
                f"cold (file evicted from the page cache): cat {cold_cat:.2f} s "
                f"({size / 2**20 / cold_cat:,.0f} MiB/s); 20 words {r['embed_s']:.2f} s "
                f"({r['embed_s'] / cold_cat:.2f}x cat), peak RSS {r['maxrss_mb']:.0f} MB"
            )
        cat_s = min(_timed(cat, env)[0] for _ in range(2))
        print(
            f"warm cat > /dev/null:            {cat_s:6.2f} s  ({size / 2**20 / cat_s:,.0f} MiB/s)"
        )

        rows = [
            ("20 words over the whole file", spread),
            ("same 20 words again (cache)", spread),
            ("20 words in the first 10%", early),
            ("19 words + 1 unknown (full read)", spread[:-1] + [spread[-1][:-1] + "q"]),
        ]
        for i, (label, names) in enumerate(rows):
            if i == 2:
                env["EMOTRANS_CACHE"] = str(folder / "cache2")  # a cold cache again
            r = _child(spec, names, env)
            speed = size / 2**20 / r["embed_s"]
            what = f"shape {r['shape']}" if r["error"] is None else "EmbeddingError"
            print(
                f"{label + ':':32s} {r['embed_s']:6.2f} s  ({speed:,.0f} MiB/s, "
                f"{r['embed_s'] / cat_s:4.2f}x cat)  peak RSS {r['maxrss_mb']:5.0f} MB  "
                f"process {r['wall_s']:5.2f} s  {what}"
            )
            if r["error"] is not None:
                print(f"    error: {r['error'][-160:]}")
        base = _child("random:0:4", ["anger"], env)
        print(
            f"baseline (python + emotrans import, random source): peak RSS "
            f"{base['maxrss_mb']:.0f} MB, process {base['wall_s']:.2f} s"
        )
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
