"""Zero-shot and few-shot data protocols (docs/design.md, "Protocols") on hand-made datasets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotrans.data.dataset import Dataset, Split
from emotrans.data.protocols import (
    add_zero_column,
    balanced_few_shot_set,
    extend_with_unseen,
    few_shot,
    memory_sample,
    zero_shot,
)
from emotrans.errors import ConfigError

EMOTIONS = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


def make_split(n: int, seed: int, t: int = 5, k: int = 6, rate: float = 0.3) -> Split:
    rng = np.random.default_rng(seed)
    feats = {
        m: rng.standard_normal((n, t, d)).astype(np.float32)
        for m, d in (("text", 4), ("audio", 3), ("vision", 2))
    }
    return Split(
        features=feats,
        lengths={m: np.full(n, t, np.int64) for m in feats},
        labels=(rng.random((n, k)) < rate).astype(np.uint8),
        ids=np.array([f"s{seed}-{i}" for i in range(n)]),
        intensities=rng.random((n, k)).astype(np.float32),
    )


@pytest.fixture
def ds() -> Dataset:
    return Dataset(
        name="mosei",
        emotions=list(EMOTIONS),
        splits={"train": make_split(400, 0), "valid": make_split(60, 1), "test": make_split(80, 2)},
    ).validate()


def test_zero_shot_removes_every_positive_of_the_target_from_every_split(ds):
    seen = zero_shot(ds, ["fear"])
    assert seen.emotions == ["anger", "disgust", "happy", "sad", "surprise"]
    col = EMOTIONS.index("fear")
    for name, split in seen.splits.items():
        original = ds[name]
        negatives = original.labels[:, col] == 0
        assert split.n == int(negatives.sum())
        assert list(split.ids) == list(original.ids[negatives])
        np.testing.assert_array_equal(
            split.labels, np.delete(original.labels[negatives], col, axis=1)
        )


def test_zero_shot_with_several_unseen_emotions(ds):
    seen = zero_shot(ds, ["fear", "sad"])
    cols = [EMOTIONS.index("fear"), EMOTIONS.index("sad")]
    assert seen["train"].n == int((ds["train"].labels[:, cols].sum(1) == 0).sum())
    assert len(seen.emotions) == 4


def test_zero_shot_of_an_unknown_emotion_is_an_error(ds):
    with pytest.raises(ConfigError, match="boredom"):
        zero_shot(ds, ["boredom"])


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.5])
def test_few_shot_keeps_exactly_ceil_fraction_of_the_positives(ds, fraction):
    col = EMOTIONS.index("anger")
    p = int(ds["train"].labels[:, col].sum())
    reduced, kept = few_shot(ds, "anger", fraction=fraction, seed=3)
    assert len(kept) == math.ceil(fraction * p)
    assert int(reduced["train"].labels[:, col].sum()) == math.ceil(fraction * p)
    # negatives of the target all stay; valid and test are untouched
    assert reduced["train"].n == ds["train"].n - p + len(kept)
    assert reduced["test"] is ds["test"] and reduced["valid"] is ds["valid"]


def test_few_shot_with_k_shots_and_too_many_shots(ds):
    reduced, kept = few_shot(ds, "happy", shots=4)
    assert len(kept) == 4 and int(reduced["train"].labels[:, 3].sum()) == 4
    with pytest.raises(ConfigError, match="requested but train has"):
        few_shot(ds, "happy", shots=10_000)


def test_few_shot_is_seeded(ds):
    assert list(few_shot(ds, "sad", 0.1, seed=1)[1]) == list(few_shot(ds, "sad", 0.1, seed=1)[1])
    assert list(few_shot(ds, "sad", 0.1, seed=1)[1]) != list(few_shot(ds, "sad", 0.1, seed=2)[1])


def test_balanced_set_has_as_many_negatives_as_positives(ds):
    reduced, _ = few_shot(ds, "fear", shots=5)
    small = balanced_few_shot_set(reduced["train"], EMOTIONS.index("fear"))
    assert small.n == 10 and int(small.labels[:, 2].sum()) == 5


def test_memory_and_zero_column(ds):
    mem = memory_sample(zero_shot(ds, ["fear"])["train"], 32)
    assert mem.n == 32 and mem.labels.shape[1] == 5
    full = add_zero_column(mem, 2)
    assert full.labels.shape[1] == 6 and full.labels[:, 2].sum() == 0
    np.testing.assert_array_equal(np.delete(full.labels, 2, axis=1), mem.labels)


def test_iemocap9_extension_adds_a_fifth_column_with_the_extra_samples(ds):
    base = ds.select_emotions(["anger", "disgust", "fear", "happy"])["test"]
    extra_split = make_split(30, 9, t=7, k=2, rate=0.5)
    extra = Dataset(
        name="iemocap9",
        emotions=["excited", "frustrated"],
        splits={"test": extra_split},
        source="y_test.p",
    )
    out = extend_with_unseen(base, ["anger", "disgust", "fear", "happy"], extra, "excited")
    n_extra = int(extra_split.labels[:, 0].sum())
    assert out.n == base.n + n_extra and out.labels.shape[1] == 5
    assert out.labels[base.n :, 4].all() and not out.labels[base.n :, :4].any()
    assert not out.labels[: base.n, 4].any()
    assert out.features["audio"].shape[1] == 5  # extras cut to the base's last 5 steps
    rows = np.flatnonzero(extra_split.labels[:, 0] == 1)
    np.testing.assert_array_equal(
        out.features["text"][base.n :], extra_split.features["text"][rows][:, -5:]
    )
