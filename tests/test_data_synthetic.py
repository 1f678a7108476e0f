"""The synthetic generator: sizes, padding, -inf, determinism, the shared world, the oracle,
and every output format read back by the loaders."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from emotrans.data import generate, load, oracle_logits, write_synthetic
from emotrans.data import synthetic as synth
from emotrans.data.synthetic import writing as synth_writing
from emotrans.errors import ConfigError
from helpers import EMB


def wacc(y, pred):
    y, pred = y.astype(bool), pred.astype(bool)
    return ((pred & y).sum() / y.sum() + (~pred & ~y).sum() / (~y).sum()) / 2


def test_split_sizes_are_real_sizes_times_scale_rounded_half_up_at_least_8():
    spec = synth.SPECS["mosei"]
    assert synth.split_sizes(spec, 1.0) == {"train": 16326, "valid": 1871, "test": 4659}
    assert synth.split_sizes(spec, 0.01) == {"train": 163, "valid": 19, "test": 47}
    assert synth.split_sizes(spec, 0.0001) == {"train": 8, "valid": 8, "test": 8}
    assert synth.split_sizes(synth.SPECS["iemocap"], 1.0) == {
        "train": 2717,
        "valid": 798,
        "test": 938,
    }
    nine = synth.split_sizes(synth.SPECS["iemocap9"], 1.0)
    assert nine["train"] == 735 + 686 + 19 + 690 + 65 + 1235 + 338 + 954 + 1
    assert nine == {"train": 4723, "valid": round(4723 * 798 / 2717), "test": 1631}
    with pytest.raises(ConfigError, match="scale"):
        synth.split_sizes(spec, 0)


@pytest.mark.parametrize(
    "dataset, steps, k",
    [("mosei", 20, 6), ("iemocap", 20, 4), ("iemocap9", 21, 9), ("mosei-senti", 50, 1)],
)
def test_shapes_match_the_real_datasets(dataset, steps, k):
    ds, oracle = generate(dataset, scale=0.003, seed=0, embeddings=EMB)
    assert ds.dims == {"text": 300, "audio": 74, "vision": 35}
    for name, s in ds.splits.items():
        assert {x.shape[1] for x in s.features.values()} == {steps}
        assert s.labels.shape == (s.n, k)
        assert oracle[name]["logits"].shape == (s.n, k)
        assert np.array_equal(oracle[name]["ids"], s.ids)


def test_left_zero_padding_and_lengths_between_half_and_full():
    ds, _ = generate("mosei", scale=0.02, seed=1, embeddings=EMB)
    s = ds["train"]
    lengths = s.lengths["text"]
    assert lengths.min() >= 10 and lengths.max() == 20
    assert 0.3 < np.mean(lengths == 20) < 0.7 and len(set(lengths.tolist())) > 5
    for m, x in s.features.items():
        steps_used = np.any(x != 0, axis=2)  # (N, T)
        expected = np.arange(20)[None, :] >= (20 - s.lengths[m])[:, None]
        assert np.array_equal(steps_used, expected)


def test_about_half_a_percent_of_audio_frames_get_minus_inf_in_column_0(tmp_path):
    out = write_synthetic(tmp_path / "d", "mosei", "mosei-h5", scale=0.05, seed=0, embeddings=EMB)
    with h5py.File(out / "audio_train.h5", "r") as f:
        audio = f["d1"][()]
    bad = ~np.isfinite(audio)
    assert np.all(audio[bad] == -np.inf)
    assert bad[:, :, 1:].sum() == 0
    frames = np.any(audio != 0, axis=2).sum()
    assert 0.002 < bad.sum() / frames < 0.01
    ds = load(out)
    assert ds.nonfinite["train/audio"] == bad.sum()
    assert np.isfinite(ds["train"].features["audio"]).all()


def test_same_seed_same_data_other_seed_other_data():
    a, oa = generate("iemocap", scale=0.01, seed=3, embeddings=EMB)
    b, ob = generate("iemocap", scale=0.01, seed=3, embeddings=EMB)
    c, _ = generate("iemocap", scale=0.01, seed=4, embeddings=EMB)
    for m in a.modalities:
        assert np.array_equal(a["test"].features[m], b["test"].features[m])
    assert np.array_equal(a["test"].labels, b["test"].labels)
    assert np.array_equal(oa["test"]["logits"], ob["test"]["logits"])
    assert not np.array_equal(a["test"].features["text"], c["test"].features["text"])


def test_mosei_label_rates_follow_the_real_training_rates():
    ds, _ = generate("mosei", scale=0.1, seed=0, embeddings=EMB)
    rates = ds["train"].labels.mean(axis=0)
    assert np.allclose(rates, [0.22, 0.18, 0.08, 0.53, 0.25, 0.10], atol=0.04)


def test_mosei_intensities_are_thirds_for_positives_and_zero_for_negatives():
    ds, _ = generate("mosei", scale=0.01, seed=0, embeddings=EMB)
    s = ds["train"]
    positive = s.intensities[s.labels == 1]
    assert np.all(s.intensities[s.labels == 0] == 0)
    assert positive.min() >= 1 / 3 - 1e-6 and positive.max() <= 3
    assert np.allclose(positive * 3, np.round(positive * 3), atol=1e-5)


def test_single_label_datasets_have_one_emotion_per_sample_in_real_proportions():
    ds, _ = generate("iemocap", scale=0.5, seed=0, embeddings=EMB)
    assert np.all(ds["train"].labels.sum(axis=1) == 1)
    assert np.allclose(ds["train"].labels.mean(axis=0), [0.33, 0.30, 0.18, 0.19], atol=0.05)


def test_sentiment_is_a_score_in_range_and_present_when_positive():
    ds, _ = generate("mosei-senti", scale=0.005, seed=0, embeddings=EMB)
    s = ds["train"]
    assert ds.emotions == ["sentiment"]
    assert s.intensities.min() >= -3 and s.intensities.max() <= 3
    assert np.array_equal(s.labels[:, 0], (s.intensities[:, 0] > 0).astype(np.uint8))


def test_oracle_balanced_decision_beats_chance_clearly():
    ds, oracle = generate("mosei", scale=0.05, seed=0, embeddings=EMB)
    labels, logits = ds["train"].labels, oracle["train"]["logits"]
    scores = [wacc(labels[:, k], logits[:, k] > 0) for k in range(6)]
    assert min(scores) > 0.7
    assert oracle["emotions"] == ds.emotions


def mean_features(split, m):
    return split.features[m].sum(axis=1) / split.lengths[m][:, None]  # (N, D)


def test_features_carry_the_signal_in_every_modality():
    """The positives-minus-negatives direction of 'happy' agrees between two halves of the
    training data in every modality (it would be random without a signal)."""
    ds, _ = generate("mosei", scale=0.1, seed=0, embeddings=EMB)
    s = ds["train"]
    happy = s.labels[:, ds.emotions.index("happy")].astype(bool)
    halves = np.arange(s.n) % 2 == 0
    for m in s.features:
        x = mean_features(s, m)
        gaps = []
        for half in (halves, ~halves):
            gap = x[half & happy].mean(axis=0) - x[half & ~happy].mean(axis=0)
            gaps.append(gap / np.linalg.norm(gap))
        assert gaps[0] @ gaps[1] > 0.6, m


def principal_subspace(ds, m="text"):
    x = mean_features(ds["train"], m)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    return vt[: synth.AFFECT_RANK]  # (r, D)


def test_iemocap_and_iemocap9_share_the_world_of_a_seed():
    """Features of IEMOCAP-4 and IEMOCAP-9 data of one seed vary in the same affect
    subspace (the world's mixing), and another seed's world differs."""
    four, _ = generate("iemocap", scale=0.2, seed=5, embeddings=EMB)
    nine, _ = generate("iemocap9", scale=0.2, seed=5, embeddings=EMB)
    other, _ = generate("iemocap9", scale=0.2, seed=6, embeddings=EMB)
    shared = np.linalg.svd(principal_subspace(four) @ principal_subspace(nine).T)[1]
    unrelated = np.linalg.svd(principal_subspace(four) @ principal_subspace(other).T)[1]
    assert shared.min() > 0.95  # cosines of the principal angles
    assert unrelated.max() < 0.6


def test_emotion_codes_keep_the_embeddings_geometry(tmp_path):
    """Names whose vectors are close get close codes (here 'angry' is 'anger' plus a little
    noise; the other names are unrelated random vectors)."""
    rng = np.random.default_rng(0)
    vectors = {n: rng.standard_normal(32).tolist() for n in synth.REFERENCE_VOCABULARY}
    vectors["angry"] = (np.array(vectors["anger"]) + 0.1 * rng.standard_normal(32)).tolist()
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(vectors))
    world = synth.make_world(0, f"dict:{path}")
    assert world.codes["anger"] @ world.codes["angry"] > 0.95
    assert abs(world.codes["anger"] @ world.codes["sad"]) < 0.9


def test_emotion_vectors_file_rebuilds_the_same_world(tmp_path):
    out = write_synthetic(tmp_path / "a", "iemocap", "mult", scale=0.005, seed=2, embeddings=EMB)
    vectors = json.loads((out / "emotion_vectors.json").read_text())
    assert set(vectors) == set(synth.REFERENCE_VOCABULARY)
    again, _ = generate("iemocap", 0.005, 2, f"dict:{out / 'emotion_vectors.json'}")
    first = load(out)
    for m in first.modalities:
        assert np.array_equal(first["valid"].features[m], again["valid"].features[m])
    assert np.array_equal(first["valid"].labels, again["valid"].labels)


@pytest.mark.parametrize(
    "dataset, fmt",
    [
        ("mosei", "mosei-h5"),
        ("mosei", "native"),
        ("iemocap", "mult"),
        ("iemocap", "mult-noalign"),
        ("iemocap9", "iemocap9"),
        ("mosei-senti", "mult"),
    ],
)
def test_written_files_load_back_as_the_generated_dataset(tmp_path, dataset, fmt):
    out = write_synthetic(tmp_path / "d", dataset, fmt, scale=0.003, seed=0, embeddings=EMB)
    loaded = load(out)
    expected, oracle = generate(dataset, 0.003, 0, EMB, aligned=fmt != "mult-noalign")
    assert loaded.emotions == expected.emotions
    assert loaded.aligned == expected.aligned
    assert loaded.nonfinite == expected.nonfinite
    for name, s in expected.splits.items():
        got = loaded[name]
        for m in s.features:
            assert np.array_equal(got.features[m], s.features[m])
            assert np.array_equal(got.lengths[m], s.lengths[m])
        assert np.array_equal(got.labels, s.labels)
        assert np.array_equal(got.ids, s.ids)
    saved = oracle_logits(out)
    assert saved["emotions"] == expected.emotions
    assert np.array_equal(saved["test"]["logits"], oracle["test"]["logits"])
    settings = json.loads((out / "synthetic.json").read_text())
    assert settings["seed"] == 0 and settings["embeddings"] == EMB and settings["format"] == fmt
    assert set(settings["files"]) == {p.name for p in out.iterdir()}


def test_unaligned_iemocap_uses_the_mult_step_counts(tmp_path):
    ds, _ = generate("iemocap", scale=0.003, seed=0, embeddings=EMB, aligned=False)
    assert {m: x.shape[1] for m, x in ds["train"].features.items()} == {
        "text": 20,
        "audio": 400,
        "vision": 500,
    }
    assert not ds.aligned


def test_oracle_file_has_logits_and_ids_per_split(tmp_path):
    out = write_synthetic(tmp_path / "d", "mosei", "native", scale=0.003, seed=0, embeddings=EMB)
    with np.load(out / "oracle.npz") as z:
        assert {"train_logits", "train_ids", "valid_logits", "test_ids", "emotions"} <= set(z.files)
    assert oracle_logits(out / "mosei.h5")["valid"]["logits"].dtype == np.float32


def test_a_failure_leaves_no_output(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synth_writing, "write_oracle", broken)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic(tmp_path / "d", "mosei", "mosei-h5", scale=0.003, embeddings=EMB)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_a_previous_output_intact(tmp_path, monkeypatch):
    out = write_synthetic(tmp_path / "d", "iemocap", "mult", scale=0.003, embeddings=EMB)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synth_writing, "write_oracle", broken)
    with pytest.raises(OSError):
        write_synthetic(out, "iemocap", "mult-noalign", scale=0.003, seed=1, embeddings=EMB)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_previous_output_is_replaced_without_leftovers(tmp_path):
    out = write_synthetic(tmp_path / "d", "iemocap", "mult", scale=0.003, embeddings=EMB)
    write_synthetic(out, "iemocap", "native", scale=0.003, embeddings=EMB)
    assert sorted(p.name for p in out.iterdir()) == [
        "emotion_vectors.json",
        "iemocap.h5",
        "oracle.npz",
        "synthetic.json",
    ]


def test_a_foreign_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        write_synthetic(tmp_path, "mosei", "native", scale=0.003, embeddings=EMB)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "dataset, fmt", [("mosei", "mult"), ("iemocap", "mosei-h5"), ("iemocap9", "mult")]
)
def test_format_the_dataset_does_not_come_in_is_refused(tmp_path, dataset, fmt):
    with pytest.raises(ConfigError, match="cannot be written"):
        write_synthetic(tmp_path / "d", dataset, fmt, scale=0.003, embeddings=EMB)


def test_unknown_dataset_is_refused():
    with pytest.raises(ConfigError, match="unknown synthetic dataset"):
        generate("meld", embeddings=EMB)


def test_a_held_out_emotion_follows_from_the_others_through_the_default_embeddings():
    """Zero-shot transfer is possible: each CMU-MOSEI emotion's labels are ranked well by the
    other five emotions' oracle scores combined as its vector is rebuilt from theirs (the
    best a model trained without it can learn), while unrelated vectors give chance."""
    spec = synth.SPECS["mosei"]
    world = synth.make_world(0, "default")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((20_000, synth.AFFECT_RANK))
    drawn = synth.draw_labels(spec, world, z, rng, synth.label_params(spec, world))
    vectors = np.stack([world.vectors[n] for n in spec.emotions])
    ceiling = synth.zero_shot_ceiling(drawn.labels, drawn.oracle, vectors)
    assert ceiling.mean() > 0.75 and ceiling.min() > 0.6, ceiling
    unrelated = np.random.default_rng(2).standard_normal(vectors.shape)
    chance = synth.zero_shot_ceiling(drawn.labels, drawn.oracle, unrelated)
    assert abs(chance.mean() - 0.5) < 0.1, chance
