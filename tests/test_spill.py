"""Feature arrays parked on disk while a run does not need them (emotrans.training.spill)."""

from __future__ import annotations

import numpy as np
import pytest

from emotrans.config import RunConfig
from emotrans.data.dataset import Split
from emotrans.training import spill as spill_module
from emotrans.training.pipeline import train_run
from emotrans.training.spill import spill, spill_folder
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

    monkeypatch.setattr(spill_module, "MIN_BYTES", 0)
    monkeypatch.setattr("emotrans.training.pipeline.spill", watched)
    run = train_run(config, tmp_path / "parked")
    assert parked == [("test", True, True), ("train", True, True)]
    for key in ("splits", "best_epoch"):
        assert run.metrics[key] == plain[key]
    assert not (tmp_path / "parked" / ".spill").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosei", "parked", "plain"]
