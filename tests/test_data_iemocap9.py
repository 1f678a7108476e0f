"""IEMOCAP 9-emotion Python-2 pickles, on tiny files written here in Python 2's format."""

from __future__ import annotations

import io
import pickle
import struct
from functools import partial

import numpy as np
import pytest

from emotrans.data import load
from emotrans.data.formats.iemocap9 import EMOTIONS, LABEL_COLUMNS, load_iemocap9
from helpers import load_error

DIMS = {"text": 300, "covarep": 74, "facet": 35}
MODALITY = {"text": "text", "covarep": "audio", "facet": "vision"}
SIZES = {"train": 6, "valid": 3, "test": 3}
T = 21


class _Python2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote: byte strings as py2 ``str`` (BINSTRING) and
    numpy 1.x module names. Python 3 can only read such files with encoding="latin1"."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(data)) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        name = name or obj.__qualname__
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def labels(classes):
    """(N, 11) one-hot over the 11 columns."""
    y = np.zeros((len(classes), len(LABEL_COLUMNS)), np.int64)
    y[np.arange(len(classes)), classes] = 1
    return y


@pytest.fixture
def iemocap9_dir(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in SIZES.items():
        feats = {}
        for name, d in DIMS.items():
            x = rng.standard_normal((n, T, d)).astype(np.float32)
            for i in range(n):
                x[i, : i % 3] = 0
            (tmp_path / f"{name}_{split}.p").write_bytes(python2_pickle(x))
            feats[MODALITY[name]] = x
        y = labels([(i % 9) + 1 for i in range(n)])
        (tmp_path / f"y_{split}.p").write_bytes(python2_pickle(y))
        arrays[split] = (feats, y)
    return tmp_path, arrays


def test_fixture_files_really_are_python2_pickles_with_latin1_bytes(iemocap9_dir):
    path, _ = iemocap9_dir
    data = (path / "text_train.p").read_bytes()
    assert pickle.SHORT_BINSTRING in data or pickle.BINSTRING in data
    assert b"numpy.core.multiarray" in data
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)  # Python 3's default ASCII decoding fails on the raw buffer


def test_reads_python2_pickles_exactly(iemocap9_dir):
    path, arrays = iemocap9_dir
    ds = load_iemocap9(path)
    assert ds.name == "iemocap9"
    assert ds.modalities == ("text", "audio", "vision")
    for split, (feats, _) in arrays.items():
        for m, x in feats.items():
            assert ds[split].features[m].shape == (SIZES[split], T, x.shape[2])
            assert np.array_equal(ds[split].features[m], x)
        assert ds[split].lengths["text"].tolist() == [T - i % 3 for i in range(SIZES[split])]


def test_keeps_the_nine_middle_label_columns_in_order(iemocap9_dir):
    path, arrays = iemocap9_dir
    ds = load_iemocap9(path)
    assert ds.emotions == [
        "anger",
        "excited",
        "fear",
        "sad",
        "surprised",
        "frustrated",
        "happy",
        "neutral",
        "disgust",
    ]
    assert ds.emotions == list(EMOTIONS)
    for split, (_, y) in arrays.items():
        assert np.array_equal(ds[split].labels, y[:, 1:10].astype(np.uint8))


def test_other_and_unknown_samples_have_no_emotion(iemocap9_dir):
    path, _ = iemocap9_dir
    (path / "y_valid.p").write_bytes(python2_pickle(labels([0, 10, 2])))
    ds = load_iemocap9(path)
    assert ds["valid"].labels.sum(axis=1).tolist() == [0, 0, 1]


def test_trim_to_keeps_the_last_steps(iemocap9_dir):
    path, arrays = iemocap9_dir
    ds = load(path, trim_to=20)
    x = arrays["train"][0]["audio"]
    assert ds["train"].features["audio"].shape[1] == 20
    assert np.array_equal(ds["train"].features["audio"], x[:, -20:])
    # row 2 had 2 padded steps of 21: one remains after trimming
    assert ds["train"].lengths["audio"][:3].tolist() == [20, 20, 19]


def test_minus_infinity_in_covarep_is_replaced_and_counted(iemocap9_dir):
    path, arrays = iemocap9_dir
    x = arrays["test"][0]["audio"].copy()
    x[0, 4, 0] = -np.inf
    (path / "covarep_test.p").write_bytes(python2_pickle(x))
    ds = load_iemocap9(path)
    assert ds.nonfinite["test/audio"] == 1
    assert ds["test"].features["audio"][0, 4, 0] == 0


error_of = partial(load_error, load)


def test_missing_file_is_named(iemocap9_dir):
    path, _ = iemocap9_dir
    (path / "facet_valid.p").unlink()
    message = error_of(path)
    assert "facet_valid.p" in message and "no such file" in message


def test_sample_count_disagreeing_with_labels_is_reported(iemocap9_dir):
    path, arrays = iemocap9_dir
    (path / "y_test.p").write_bytes(python2_pickle(arrays["test"][1][:2]))
    message = error_of(path)
    assert "text_test.p" in message and "3 samples but 2 label rows" in message


def test_labels_of_the_wrong_shape_are_reported(iemocap9_dir):
    path, arrays = iemocap9_dir
    (path / "y_train.p").write_bytes(python2_pickle(arrays["train"][1][:, :9]))
    message = error_of(path)
    assert "y_train.p" in message and "(6, 9)" in message


def test_dims_differing_between_splits_are_reported(iemocap9_dir):
    path, arrays = iemocap9_dir
    x = arrays["valid"][0]["text"][:, :, :100]
    (path / "text_valid.p").write_bytes(python2_pickle(x))
    message = error_of(path)
    assert "text_valid.p" in message and "100" in message and "300" in message


def test_truncated_pickle_is_reported(iemocap9_dir):
    path, _ = iemocap9_dir
    target = path / "covarep_train.p"
    target.write_bytes(target.read_bytes()[:500])
    message = error_of(path)
    assert "covarep_train.p" in message and "pickle" in message
