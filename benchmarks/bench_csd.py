"""Speed and peak memory of ``.csd`` -> training tensors: emotrans, and the CMU-MultimodalSDK.

Generates CMU-MOSEI-scale computational sequences (``emotrans.data.synthetic_csd``: at
``--scale 1`` 3,800 one-minute videos, ~23,000 labelled segments, words with 300-d vectors,
COVAREP 74-d at 100 Hz, FACET 35-d at 30 Hz, gzip-compressed like the SDK's files), then
converts them with :func:`emotrans.data.csd_align.convert_csd` in a fresh process per run
and reports wall time and peak resident memory (``getrusage``: the process itself and, with
``--workers 2``, its largest worker).

With ``--sdk`` it also runs the CMU-MultimodalSDK's recipe on ``--sdk-videos`` videos of the
same generator, in the same run: word alignment with a mean collapse, imputation, label
alignment, hard unify and tensors of the last T rows. The SDK is the one importable by
``--sdk-python`` (default: this interpreter, where ``pip install -e .[test]`` puts PyPI's
``cmu-multimodal-sdk`` 0.0.6). That 2019 copy is given the current SDK's tolerance and
``unify``, and the steps it lacks (``hard_unify``, ``get_tensors``) are done as the current
SDK does them, exactly as in tests/test_csd_sdk.py; a current SDK on the path runs as it is.
emotrans converts the same files in both modes; the run prints the speed and memory ratios and
fails (exit 1) unless ``--sdk-compat`` gives the SDK's samples and tensors (to 1e-5).
Generated files are cached in ``--data`` and reused.

    python benchmarks/bench_csd.py                       # scale 0.05: a quick look
    python benchmarks/bench_csd.py --scale 1 --workers 1 2 --sdk --sdk-videos 100 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_EMOTRANS_RUN = r"""
import json, resource, sys, time, os, tempfile
sys.path.insert(0, {src!r})
from emotrans.data.csd_align import convert_csd
from emotrans.data import save_native
d = json.loads({paths!r})
t0 = time.perf_counter()
r = convert_csd(d["text"], d["labels"], d["folds"], audio=d["audio"], vision=d["vision"],
                seq_len={seq_len}, eps={eps}, workers={workers}, sdk_compat={compat})
t1 = time.perf_counter()
saved = None
if {save}:
    with tempfile.TemporaryDirectory(dir={tmp!r}) as tmp:
        save_native(r.dataset, os.path.join(tmp, "mosei.h5"))
        saved = time.perf_counter() - t1
if {dump!r}:
    import numpy as np
    arrays = {{}}
    for s, split in r.dataset.splits.items():
        arrays[s + "/ids"] = split.ids
        for m, x in split.features.items():
            arrays[s + "/" + m] = x
        arrays[s + "/labels"] = split.intensities
    np.savez({dump!r}, **arrays)
print(json.dumps({{
    "seconds": t1 - t0, "save_seconds": saved,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "samples": r.report.samples, "videos": r.report.videos_used,
    "segments": r.report.segments,
}}))
"""

_SDK_RUN = r"""
import json, resource, sys, time, types, importlib.util
import numpy as np
spec = importlib.util.find_spec("mmsdk")
if spec is None:
    sys.exit("mmsdk is not installed in this environment")
# Import the data half only: mmsdk/__init__ also imports the model half, which needs torch.
pkg = types.ModuleType("mmsdk"); pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["mmsdk"] = pkg
from mmsdk import mmdatasdk
from mmsdk.mmdatasdk.dataset import dataset as sdk_dataset
d = json.loads({paths!r})
T = {seq_len}
# Python 3: impute() indexes keys().
mmdatasdk.computational_sequence.keys = lambda self: list(self.data.keys())
current = hasattr(mmdatasdk.mmdataset, "hard_unify")
if not current:
    # PyPI's 0.0.6, a 2019 copy: the current SDK's tolerance and unify (tests/test_csd_sdk.py).
    sdk_dataset.epsilon = 1e-5

    def unify(self, active=True):
        ids = [{{k.split("[")[0] for k in s.data}} for s in self.computational_sequences.values()]
        bad = set.union(*ids) - set.intersection(*ids)
        for s in self.computational_sequences.values():
            for k in [k for k in s.data if any(k.startswith(v) for v in bad)]:
                del s.data[k]

    mmdatasdk.mmdataset._mmdataset__unify_dataset = unify

def avg(intervals, features):
    return np.average(features, axis=0)

names = {{"glove_vectors": "text", "COVAREP": "audio", "FACET 4.2": "vision"}}
t0 = time.perf_counter()
ds = mmdatasdk.mmdataset({{n: d[m] for n, m in names.items()}})
ds.align("glove_vectors", collapse_functions=[avg])
ds.impute("glove_vectors")
t1 = time.perf_counter()
ds.add_computational_sequences({{"All Labels": d["labels"]}}, None)
ds.align("All Labels")
t2 = time.perf_counter()
folds = json.load(open(d["folds"]))
splits = ("train", "valid", "test")
lists = [folds[s] for s in splits]
first = list(ds.keys())[0]
if current:
    ds.hard_unify()
    tensors = ds.get_tensors(T, non_sequences=["All Labels"], folds=lists)
else:  # hard_unify and get_tensors as the current SDK defines them
    seqs = ds.computational_sequences
    common = set.intersection(*(set(s.data) for s in seqs.values()))
    for s in seqs.values():
        for k in [k for k in s.data if k not in common]:
            del s.data[k]
    tensors = [{{n: [] for n in seqs}} for _ in lists]
    for key in seqs[first].data:
        i = next((i for i, f in enumerate(lists) if key.split("[")[0] in f), None)
        if i is None:
            continue
        for n, s in seqs.items():
            x = np.asarray(s.data[key]["features"])
            if n != "All Labels":
                x = np.concatenate([np.zeros((T, x.shape[1])), x])[-T:]
            tensors[i][n].append(x)
t3 = time.perf_counter()
out = {{}}
for i, split in enumerate(splits):
    ids = [k for k in ds[first].keys() if k.split("[")[0] in lists[i]
           and not any(k.split("[")[0] in f for f in lists[:i])]
    if not ids:
        continue
    out[split + "/ids"] = ids
    for n, m in names.items():
        out[split + "/" + m] = np.asarray(tensors[i][n])
    out[split + "/labels"] = np.asarray(tensors[i]["All Labels"])[:, 0]
if {dump!r}:
    np.savez({dump!r}, **{{k: np.asarray(v) for k, v in out.items()}})
print(json.dumps({{
    "seconds": t3 - t0, "word_align_seconds": t1 - t0, "label_align_seconds": t2 - t1,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "samples": {{s: len(out.get(s + "/ids", [])) for s in splits}}, "current_sdk": current,
    "sdk": spec.submodule_search_locations[0],
}}))
"""


def _run(python: str, code: str, timeout: float) -> dict:
    proc = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dataset(directory: Path, **kwargs) -> tuple[dict[str, str], dict]:
    marker = directory / "synthetic_csd.json"
    wanted = {k: kwargs[k] for k in ("videos", "seed")}
    if marker.exists():
        have = json.loads(marker.read_text())
        if (
            all(have.get(k) == v for k, v in wanted.items())
            and have.get("missing_videos") == kwargs["missing_videos"]
        ):
            paths = _paths(directory)
            return paths, {"generated_seconds": None, **have}
    sys.path.insert(0, str(ROOT / "src"))
    from emotrans.data.synthetic_csd import write_synthetic_csd

    t0 = time.perf_counter()
    write_synthetic_csd(directory, **kwargs)
    seconds = time.perf_counter() - t0
    have = json.loads(marker.read_text())
    return _paths(directory), {"generated_seconds": round(seconds, 1), **have}


def _paths(directory: Path) -> dict[str, str]:
    from_names = {
        "text": "CMU_MOSEI_TimestampedWordVectors.csd",
        "audio": "CMU_MOSEI_COVAREP.csd",
        "vision": "CMU_MOSEI_VisualFacet42.csd",
        "labels": "CMU_MOSEI_Labels.csd",
        "folds": "folds.json",
    }
    return {k: str(directory / v) for k, v in from_names.items()}


def _emotrans(paths, args, workers, eps=1e-5, dump="", save=True, compat=False) -> dict:
    code = _EMOTRANS_RUN.format(
        src=str(ROOT / "src"),
        paths=json.dumps(paths),
        seq_len=args.seq_len,
        eps=eps,
        workers=workers,
        compat=compat,
        save=save,
        tmp=str(Path(paths["text"]).parent),
        dump=dump,
    )
    return _run(sys.executable, code, timeout=3600)


def _size_mb(paths: dict[str, str]) -> float:
    return sum(Path(p).stat().st_size for p in paths.values()) / 2**20


def _compare(ours: str, theirs: str, extra_allowed: bool = False) -> tuple[int, int, float, int]:
    """Samples with identical ids, samples whose tensors differ, largest difference, and the
    number of samples only we have (allowed with ``extra_allowed``: the default mode keeps the
    videos the SDK removes by id prefix; our samples must then be the SDK's in its order plus
    those)."""
    import numpy as np

    a, b = np.load(ours), np.load(theirs)
    same, differ, worst, extra = 0, 0, 0.0, 0
    for split in ("train", "valid", "test"):
        ids_a = a[f"{split}/ids"].tolist() if f"{split}/ids" in a else []
        ids_b = b[f"{split}/ids"].tolist() if f"{split}/ids" in b else []
        keep = np.arange(len(ids_a))
        if ids_a != ids_b:
            theirs_set = set(ids_b)
            keep = np.array([i for i, s in enumerate(ids_a) if s in theirs_set], dtype=int)
            if not extra_allowed or [ids_a[i] for i in keep] != ids_b:
                return -1, -1, float("nan"), -1
            extra += len(ids_a) - len(keep)
        if not ids_b:
            continue
        same += len(ids_b)
        bad = np.zeros(len(ids_b), bool)
        for m in ("text", "audio", "vision", "labels"):
            x, y = a[f"{split}/{m}"][keep], b[f"{split}/{m}"].astype(np.float32)
            if m == "labels":
                y = y[:, [3, 5, 6, 1, 2, 4]]  # All Labels columns in our emotion order
            y[~np.isfinite(y)] = 0.0  # emotrans replaces non-finite values by 0 (and counts)
            diff = np.abs(x - y).reshape(len(ids_b), -1).max(axis=1)
            bad |= diff > 1e-5
            worst = max(worst, float(diff.max()))
        differ += int(bad.sum())
    return same, differ, worst, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.05, help="fraction of 3,800 videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seq-len", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "emotrans-bench-csd"))
    parser.add_argument("--sdk", action="store_true", help="also measure the CMU-MultimodalSDK")
    parser.add_argument(
        "--sdk-python", default=sys.executable, help="a Python that can import mmsdk"
    )
    parser.add_argument("--sdk-videos", type=int, nargs="+", default=[100])
    args = parser.parse_args()

    videos = max(4, round(3800 * args.scale))
    data = Path(args.data)
    print(f"emotrans .csd conversion benchmark (T = {args.seq_len}, {os.cpu_count()} CPUs)")
    paths, info = _dataset(
        data / f"scale{args.scale:g}-seed{args.seed}",
        videos=videos,
        seed=args.seed,
        missing_videos=True,
    )
    generated = (
        f", generated in {info['generated_seconds']:.0f} s" if info["generated_seconds"] else ""
    )
    print(f"data: {videos:,} videos, {_size_mb(paths):,.0f} MB of .csd files{generated}")
    for workers in args.workers:
        r = _emotrans(paths, args, workers)
        peak = f"{r['peak_rss_mb']:,.0f} MB"
        if workers > 1:
            peak += f" + {workers} workers of at most {r['worker_peak_rss_mb']:,.0f} MB"
        n = sum(r["samples"].values())
        print(
            f"emotrans, {workers} worker(s): {r['seconds']:.1f} s to tensors "
            f"(+ {r['save_seconds']:.1f} s to write the native file), peak {peak}; "
            f"{n:,} samples from {r['segments']:,} labelled segments of {r['videos']:,} videos"
        )

    if not args.sdk:
        return 0
    if not Path(args.sdk_python).exists():
        print(f"SDK: not measured ({args.sdk_python} does not exist; see the module docstring)")
        return 0
    failed = False
    for n in args.sdk_videos:
        small, _ = _dataset(
            data / f"sdk{n}-seed{args.seed}", videos=n, seed=args.seed, missing_videos=True
        )
        with tempfile.TemporaryDirectory() as tmp:
            sdk_dump, our_dump = os.path.join(tmp, "sdk.npz"), os.path.join(tmp, "ours.npz")
            code = _SDK_RUN.format(paths=json.dumps(small), seq_len=args.seq_len, dump=sdk_dump)
            try:
                sdk = _run(args.sdk_python, code, timeout=7200)
            except RuntimeError as exc:
                print(f"SDK on {n} videos: failed ({str(exc).splitlines()[-1]})")
                failed = True
                continue
            which = "current SDK" if sdk["current_sdk"] else "PyPI 0.0.6 with the current rules"
            ours = _emotrans(small, args, 1, dump=our_dump, save=False, compat=True)
            print(
                f"{n} videos ({which}, {sdk['sdk']}): SDK {sdk['seconds']:.1f} s (words "
                f"{sdk['word_align_seconds']:.1f} s, labels {sdk['label_align_seconds']:.1f} s), "
                f"peak {sdk['peak_rss_mb']:,.0f} MB; emotrans --sdk-compat {ours['seconds']:.2f} "
                f"s, peak {ours['peak_rss_mb']:,.0f} MB: {sdk['seconds'] / ours['seconds']:.0f}x "
                f"faster, {sdk['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x less memory"
            )
            same, differ, worst, _ = _compare(our_dump, sdk_dump)
            print(
                f"  --sdk-compat: {same:,} samples with the SDK's ids in its order, {differ} "
                f"differ (largest difference {worst:.1e})"
            )
            failed |= same < 0 or differ > 0
            _emotrans(small, args, 1, dump=our_dump, save=False)
            same, differ, worst, extra = _compare(our_dump, sdk_dump, extra_allowed=True)
            print(
                f"  default mode: the SDK's {same:,} samples in its order, {differ} differ "
                f"(largest difference {worst:.1e}), plus {extra:,} samples of videos the SDK "
                "removes by id prefix"
                if same >= 0
                else "  default mode: samples out of the SDK's order (a bug)"
            )
            failed |= same < 0 or differ > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
