"""Feature arrays parked on disk while a run does not need them (emotrans.training.spill)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emotrans.config import RunConfig
from emotrans.data.dataset import Split
from emotrans.training import spill as spill_module
from emotrans.training.batches import TensorSplit
from emotrans.training.pipeline import train_run
from emotrans.training.spill import FileRows, spill, spill_folder
from helpers import TINY, write_mosei


def _split(n: int = 40) -> Split:
    rng = np.random.default_rng(0)
    return Split(
        features={"text": rng.standard_normal((n, 5, 3), dtype=np.float32)},
        lengths={"text": np.full(n, 5, np.int64)},
        labels=rng.integers(0, 2, (n, 2)).astype(np.uint8),
        ids=np.array([f"s{i}" for i in range(n)]),
    )


def test_a_parked_split_holds_the_same_values_as_a_memory_map(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "MIN_BYTES", 0)
    split = _split()
    before = split.features["text"].copy()
    assert spill(split, tmp_path, "test")
    parked = split.features["text"]
    assert isinstance(parked, np.memmap)
    assert parked.dtype == np.float32 and parked.flags.c_contiguous
    np.testing.assert_array_equal(parked, before)
    assert (tmp_path / "test-text.npy").is_file()
    assert not spill(split, tmp_path, "test")  # already parked: nothing to do


def _parked(tmp_path: Path, array: np.ndarray, name: str = "a") -> np.memmap:
    np.save(tmp_path / f"{name}.npy", array)
    return np.load(tmp_path / f"{name}.npy", mmap_mode="c")


def test_file_rows_read_the_rows_of_the_array(tmp_path):
    array = np.random.default_rng(0).standard_normal((30, 4, 3)).astype(np.float32)
    rows = FileRows.of(_parked(tmp_path, array))
    assert rows is not None and len(rows) == 30 and rows.shape == (30, 4, 3)
    for index in ([7, 3, 3, 29, 0], [5, 6, 7, 8, 20, 21], [-1, -30], []):
        got = rows[torch.tensor(index, dtype=torch.long)]
        assert got.dtype == torch.float32 and got.shape == (len(index), 4, 3)
        np.testing.assert_array_equal(got.numpy(), array[index])
    np.testing.assert_array_equal(rows[4:11].numpy(), array[4:11])
    np.testing.assert_array_equal(rows[25:99].numpy(), array[25:])
    assert rows[31:40].shape == (0, 4, 3)
    with pytest.raises(IndexError, match="a.npy"):
        rows[torch.tensor([30])]
    with pytest.raises(ValueError, match="step 1"):
        rows[::2]


def test_file_rows_only_stand_for_a_whole_memory_map(tmp_path):
    parked = _parked(tmp_path, np.ones((6, 2), np.float64))
    assert FileRows.of(parked).dtype == np.float64
    assert FileRows.of(parked[1:]) is None  # a view: same file and offset, other rows
    assert FileRows.of(np.asarray(parked)) is None
    assert FileRows.of(np.ones((6, 2))) is None


def test_file_rows_name_a_file_that_ends_early(tmp_path):
    rows = FileRows.of(_parked(tmp_path, np.ones((100, 8), np.float32)))
    with open(tmp_path / "a.npy", "r+b") as f:
        f.truncate(1024)
    with pytest.raises(OSError, match=r"a\.npy: the file ends before row 90"):
        rows[torch.tensor([90])]


def test_batches_of_a_parked_split_are_those_of_the_split_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "MIN_BYTES", 0)
    split = _split(200)
    split.lengths["text"] = np.random.default_rng(1).integers(1, 6, 200)
    memory = TensorSplit.from_split(split, ["text"])
    assert spill(split, tmp_path, "train")
    parked = TensorSplit.from_split(split, ["text"])
    assert isinstance(parked.features["text"], FileRows)
    for shuffle, by_length in ((True, True), (True, False), (False, False)):
        for (a, la, ya), (b, lb, yb) in zip(
            memory.batches(32, shuffle, torch.Generator().manual_seed(3), by_length=by_length),
            parked.batches(32, shuffle, torch.Generator().manual_seed(3), by_length=by_length),
            strict=True,
        ):
            assert torch.equal(a["text"], b["text"]) and torch.equal(la["text"], lb["text"])
            assert torch.equal(ya, yb)
    order = memory.length_order()
    (a, _, _), (b, _, _) = (next(s.batches(500, order=order)) for s in (memory, parked))
    assert torch.equal(a["text"], b["text"])


def _resident_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return sum(int(status.split(f"{k}:")[1].split()[0]) for k in ("RssAnon", "RssFile")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_parked_split_costs_the_process_one_batch_not_the_split(tmp_path):
    n = 4096  # 4096 x 20 x 300 float32: 94 MiB on disk
    array = np.random.default_rng(0).standard_normal((n, 20, 300), dtype=np.float32)
    split = Split(
        features={"text": array},
        lengths={"text": np.full(n, 20)},
        labels=np.zeros((n, 6), np.uint8),
        ids=np.arange(n).astype(str),
    )
    assert spill(split, tmp_path, "train")
    del array
    data = TensorSplit.from_split(split, ["text"])
    before, peak = _resident_mib(), 0.0
    for _batch in data.batches(64, True, torch.Generator().manual_seed(0), by_length=True):
        peak = max(peak, _resident_mib())
    # read through the memory map, every row's pages would stay: +94 MiB (2 MiB per row
    # read on a kernel that maps large folios whole); one batch is 1.5 MiB
    assert peak - before < 24, (before, peak)


def test_a_small_split_stays_in_memory(tmp_path):
    split = _split()
    assert not spill(split, tmp_path, "test")
    assert not isinstance(split.features["text"], np.memmap)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_keeps_the_split_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "MIN_BYTES", 0)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spill_module.np, "save", full)
    split = _split()
    before = split.features["text"]
    assert not spill(split, tmp_path, "test")
    assert split.features["text"] is before


def test_the_spill_folder_is_emptied_of_leftovers_and_removed(tmp_path):
    (tmp_path / ".spill").mkdir()
    (tmp_path / ".spill" / "train-text.npy").write_bytes(b"left by a killed run")
    with spill_folder(tmp_path) as folder:
        assert folder == tmp_path / ".spill" and list(folder.iterdir()) == []
    assert not (tmp_path / ".spill").exists()
    with spill_folder(None) as folder:
        assert folder.is_dir()
    assert not folder.exists()


@pytest.mark.slow
def test_a_run_with_parked_splits_has_the_same_metrics(tmp_path, monkeypatch):
    data = write_mosei(tmp_path / "mosei", scale=0.01)
    config = RunConfig(data=str(data), seed=1, **TINY)
    plain = train_run(config, tmp_path / "plain").metrics
    parked = []
    real = spill_module.spill

    def watched(split, folder, name):
        done = real(split, folder, name)
        parked.append((name, done, isinstance(split.features["text"], np.memmap)))
        return done

    reads = []
    monkeypatch.setattr(spill_module, "MIN_BYTES", 0)
    monkeypatch.setattr("emotrans.training.pipeline.spill", watched)
    monkeypatch.setattr(
        FileRows,
        "__getitem__",
        lambda self, i, real=FileRows.__getitem__: reads.append(1) or real(self, i),
    )
    run = train_run(config, tmp_path / "parked")
    assert parked == [("test", True, True), ("train", True, True), ("valid", True, True)]
    assert len(reads) > 0  # training and scoring read the parked rows from their files
    for key in ("splits", "best_epoch"):
        assert run.metrics[key] == plain[key]
    assert not (tmp_path / "parked" / ".spill").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosei", "parked", "plain"]
