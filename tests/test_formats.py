"""The format registry: every format with a writer round-trips a dataset, a new format is
one module plus one registration, and datasets print short."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data import FORMATS, Dataset, Split, detect_format, generate, load
from emotrans.data.formats import (
    Format,
    formats,
    get_format,
    register_format,
    unregister_format,
    writable_formats,
)
from emotrans.data.synthetic import SPECS
from emotrans.errors import ConfigError

EMB = "random:0"


def _dataset_for(fmt: Format) -> Dataset:
    """A small generated dataset this format can hold (its label order, or the first
    synthetic dataset that lists it), with non-finite audio already cleaned."""
    for spec in SPECS.values():
        if fmt.name in spec.formats:
            dataset, _ = generate(
                spec.name, scale=0.003, seed=1, embeddings=EMB, aligned=fmt.name != "mult-noalign"
            )
            return dataset
    raise AssertionError(f"no synthetic dataset can be written as {fmt.name}")


def _assert_same(loaded: Dataset, written: Dataset) -> None:
    assert loaded.name == written.name
    assert loaded.emotions == written.emotions
    assert list(loaded.splits) == list(written.splits)
    for name, part in written.splits.items():
        got = loaded[name]
        assert list(got.features) == list(part.features)
        for m, x in part.features.items():
            np.testing.assert_array_equal(got.features[m], x)
            np.testing.assert_array_equal(got.lengths[m], part.lengths[m])
        np.testing.assert_array_equal(got.labels, part.labels)
        np.testing.assert_array_equal(got.ids, part.ids)
        if part.intensities is not None and got.intensities is not None:
            np.testing.assert_array_equal(got.intensities, part.intensities)


@pytest.mark.parametrize("fmt", writable_formats(), ids=lambda f: f.name)
def test_every_writable_format_round_trips_a_dataset(tmp_path, fmt):
    dataset = _dataset_for(fmt)
    written = fmt.write(dataset, tmp_path)
    assert written and all(p.parent == tmp_path and p.is_file() for p in written)
    assert detect_format(tmp_path) == fmt.name
    loaded = load(tmp_path)
    # the native file keeps the dataset's own metadata; the others name their format
    assert (
        loaded.meta == dataset.meta if fmt.name == "native" else loaded.meta["format"] == fmt.name
    )
    _assert_same(loaded, dataset)


@pytest.mark.parametrize("fmt", formats(), ids=lambda f: f.name)
def test_every_format_declares_itself(fmt):
    assert fmt.name in FORMATS and get_format(fmt.name) is fmt
    assert fmt.description and len(fmt.description) < 100
    assert fmt.label_order is None or all(isinstance(e, str) for e in fmt.label_order)
    assert "splits" in fmt.options or fmt.name == "native"


@pytest.mark.parametrize("fmt", [f for f in writable_formats() if f.label_order])
def test_a_format_with_a_label_order_refuses_other_emotions(tmp_path, fmt):
    dataset = _dataset_for(fmt)
    other = dataset.select_emotions(list(reversed(dataset.emotions)))
    with pytest.raises(Exception, match="emotions"):
        fmt.write(other, tmp_path)


def test_synthetic_datasets_use_their_formats_label_orders():
    for spec in SPECS.values():
        for name in spec.formats:
            order = get_format(name).label_order
            assert order is None or order == spec.emotions


# -- a new format: one module, one registration --------------------------------------------------

TOY_MODULE = '''
"""A toy format: one JSON file ``toy.json`` holding every split."""

import json
from pathlib import Path

import numpy as np

from emotrans.data import SPLITS, Dataset, Split
from emotrans.data.formats import Format


def detect(path):
    return 5 if (Path(path) / "toy.json").is_file() or Path(path).name == "toy.json" else 0


def load(path, *, splits=SPLITS):
    path = Path(path)
    raw = json.loads((path / "toy.json" if path.is_dir() else path).read_text())
    out = {}
    for s in splits:
        x = np.asarray(raw[s]["text"], dtype=np.float32)  # (N, T, D)
        out[s] = Split(
            features={"text": x},
            lengths={"text": np.full(len(x), x.shape[1], np.int64)},
            labels=np.asarray(raw[s]["labels"], dtype=np.uint8),
            ids=np.array([f"{s}_{i}" for i in range(len(x))]),
        )
    return Dataset("toy", list(raw["emotions"]), out, source=str(path),
                   meta={"format": "toy"}).validate()


def write(dataset, out):
    path = Path(out) / "toy.json"
    content = {"emotions": dataset.emotions}
    for s, part in dataset.splits.items():
        content[s] = {"text": part.features["text"].tolist(), "labels": part.labels.tolist()}
    path.write_text(json.dumps(content))
    return [path]


FORMAT = Format(name="toy", description="one JSON file", detect=detect, load=load,
                write=write, label_order=None)
'''


@pytest.fixture
def toy_format():
    module = types.ModuleType("toy_format")
    exec(compile(TOY_MODULE, "toy_format.py", "exec"), module.__dict__)
    register_format(module.FORMAT)
    yield module.FORMAT
    unregister_format("toy")


def _toy_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    splits = {
        s: Split(
            features={"text": rng.standard_normal((n, 3, 2)).astype(np.float32)},
            lengths={"text": np.full(n, 3, np.int64)},
            labels=rng.integers(0, 2, (n, 2)).astype(np.uint8),
            ids=np.array([f"{s}_{i}" for i in range(n)]),
        )
        for s, n in (("train", 4), ("valid", 2), ("test", 3))
    }
    return Dataset("toy", ["calm", "tense"], splits).validate()


def test_a_registered_format_is_detected_and_loaded_through_emotrans_data_load(
    tmp_path, toy_format
):
    assert "toy" in FORMATS and FORMATS[-1] == "toy"
    dataset = _toy_dataset()
    toy_format.write(dataset, tmp_path)
    assert detect_format(tmp_path) == "toy"
    loaded = load(tmp_path)
    _assert_same(loaded, dataset)
    assert load(tmp_path / "toy.json", format="toy", splits=("test",)).splits.keys() == {"test"}
    with pytest.raises(ConfigError, match="modalities"):
        load(tmp_path, modalities=("text",))


def test_a_registered_format_is_listed_in_the_cli_choices(toy_format, capsys):
    with pytest.raises(SystemExit):
        main(["data", "inspect", "--help"])
    assert "toy: one JSON file" in " ".join(capsys.readouterr().out.split())


def test_a_name_is_registered_once(toy_format):
    with pytest.raises(ConfigError, match="registered already"):
        register_format(toy_format)
    with pytest.raises(ConfigError, match="built-in"):
        unregister_format("native")


def test_a_removed_format_is_unknown_again(tmp_path):
    module = types.ModuleType("toy_format")
    exec(compile(TOY_MODULE, "toy_format.py", "exec"), module.__dict__)
    register_format(module.FORMAT)
    unregister_format("toy")
    assert "toy" not in FORMATS
    (tmp_path / "toy.json").write_text(json.dumps({"emotions": []}))
    with pytest.raises(ConfigError, match="unknown data format 'toy'"):
        load(tmp_path, format="toy")


# -- short reprs ---------------------------------------------------------------------------------


def test_a_dataset_prints_short_with_its_sizes(tmp_path):
    dataset, _ = generate("mosei", scale=0.02, seed=0, embeddings=EMB)
    text = repr(dataset)
    assert len(text) < 400
    n = {k: s.n for k, s in dataset.splits.items()}
    assert f"train: {n['train']}, valid: {n['valid']}, test: {n['test']}" in text
    assert "anger" in text and "text: (T=20, D=300)" in text and "vision: (T=20, D=35)" in text
    split_text = repr(dataset["train"])
    assert len(split_text) < 400
    assert split_text.startswith(f"Split(n={n['train']}, ") and "K=6" in split_text


def test_many_emotions_are_elided(tmp_path):
    dataset, _ = generate("iemocap9", scale=0.01, seed=0, embeddings=EMB)
    text = repr(dataset)
    assert len(text) < 400 and "(K=9)" in text and "disgust" not in text
