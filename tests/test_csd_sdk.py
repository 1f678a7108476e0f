"""``convert_csd`` against the CMU-MultimodalSDK's own code (docs/design.md, "Alignment of
.csd files").

The files are written by the SDK's writer (``computational_sequence.deploy``) and hold what
real CMU-MOSI files hold: pauses between words, a zero-length word, two overlapping words,
frames that overlap or are stored out of time order, words with no frame (imputed), ``-inf``
in the acoustic features, label rows that overlap, are out of time order or have zero length,
and CMU-MOSI video ids, one of which (``25522``) is missing from the vision file while being a
prefix of two others (``255224``, ``255226``).

The SDK's recipe then runs on them: align to the words with a mean, impute, align to the
labels, hard unify, tensors of 20 steps split by the folds. ``--sdk-compat`` must give the same
samples in the same order and the same numbers; the default mode the same except that it keeps
the videos the SDK removes by id prefix.

Which SDK. The PyPI package ``cmu-multimodal-sdk`` 0.0.6 (a 2019 copy, the only one on PyPI)
has the current SDK's ``align`` (intersection, clipping, collapse, the start-time sort of a
video's pooled rows) and ``impute``, but not what the SDK added later: its tolerance is 1e-3
instead of 1e-5, its ``unify`` finds missing videos by prefix and removes them exactly (the
current one finds them exactly and removes them by prefix), and it has no ``hard_unify`` nor
``get_tensors``. When the installed SDK is that copy, the fixture below gives it the current
constant and ``unify``, and the test supplies ``hard_unify`` and ``get_tensors`` as the
current SDK defines them; with a current SDK on the path nothing is replaced. A Python 3 shim
is needed either way: ``computational_sequence.keys()`` must be a list for ``impute``.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

try:
    from mmsdk import mmdatasdk as md
    from mmsdk.mmdatasdk.dataset import dataset as sdk_dataset
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(
        f"the CMU-MultimodalSDK (pip install cmu-multimodal-sdk) cannot be imported: {exc}",
        allow_module_level=True,
    )

from emotrans.data.csd_align import EMOTION_COLUMNS, convert_csd

SEQ_LEN = 20
CURRENT_SDK_EPS = 1e-5  # "epsilon=10e-6" in the current SDK's dataset.py
SPLITS = ("train", "valid", "test")

# CMU-MOSI video ids. 25522 is missing from the vision file; the SDK's prefix removal takes
# 255224 and 255226 with it. 9J25DZhivz8 is missing from the audio file (an ordinary
# removal), Iu2PFX3z_1s has only zero-length words, 8d-gEyoeBzc is in no fold.
VIDEOS = (
    "03bSnISJMiM",
    "0h-zjBukYpk",
    "1DmNV9C1hbY",
    "25522",
    "255224",
    "255226",
    "2WGyTLYerpo",
    "2iD-tVS8NPw",
    "5W7Z1C_fDaE",
    "6Egk_28TtTM",
    "73jzhE8R1TQ",
    "7JsX8y1ysxY",
    "8d-gEyoeBzc",
    "9J25DZhivz8",
    "Iu2PFX3z_1s",
)
FOLDS = {
    "train": ["25522", "255224", "03bSnISJMiM", "0h-zjBukYpk", "1DmNV9C1hbY", "2WGyTLYerpo"],
    "valid": ["255226", "2iD-tVS8NPw", "5W7Z1C_fDaE", "Iu2PFX3z_1s"],
    "test": ["6Egk_28TtTM", "73jzhE8R1TQ", "7JsX8y1ysxY", "9J25DZhivz8", "not_in_any_file"],
}
PREFIX_REMOVED = ("255224", "255226")


# -- the SDK, as users run it --------------------------------------------------------------------


def _current_unify(self, active=True):
    """The current SDK's ``unify``: a video is a violator when some sequence lacks its exact
    id; every key *starting with* a violator's id is then removed from every sequence."""
    ids = [{k.split("[")[0] for k in seq.data} for seq in self.computational_sequences.values()]
    violators = set.union(*ids) - set.intersection(*ids)
    for seq in self.computational_sequences.values():
        for key in [k for k in seq.data if any(k.startswith(v) for v in violators)]:
            del seq.data[key]


def _hard_unify(dataset):
    """The current SDK's ``hard_unify``: keep the ``<video>[<i>]`` keys every sequence has."""
    if hasattr(dataset, "hard_unify"):
        return dataset.hard_unify()
    seqs = [dataset[name] for name in dataset.keys()]
    shared = set.intersection(*(set(seq.data) for seq in seqs))
    for seq in seqs:
        for key in [k for k in seq.data if k not in shared]:
            del seq.data[key]


def _get_tensors(dataset, seq_len, folds, non_sequences):
    """The current SDK's ``get_tensors`` (left padding), with the sample ids it iterates:
    the keys of the first sequence, each in the first fold listing its video."""
    names = list(dataset.keys())
    ids = [[] for _ in folds]
    for key in dataset[names[0]].data:
        fold = next((i for i, f in enumerate(folds) if key.split("[")[0] in f), None)
        if fold is not None:
            ids[fold].append(key)
    if hasattr(dataset, "get_tensors"):
        tensors = dataset.get_tensors(seq_len, non_sequences=non_sequences, folds=folds)
        return tensors, ids
    tensors = []
    for fold_ids in ids:
        out = {}
        for name in names:
            rows = []
            for key in fold_ids:
                x = np.asarray(dataset[name][key]["features"])
                if name not in non_sequences:
                    pad = np.zeros((seq_len, *x.shape[1:]))
                    x = np.concatenate([pad, x], axis=0)[-seq_len:]
                rows.append(x)
            out[name] = np.array(rows)
        tensors.append(out)
    return tensors, ids


@pytest.fixture(scope="module")
def sdk():
    """The installed SDK, made to behave as the current one (module docstring)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(md.computational_sequence, "keys", lambda self: list(self.data.keys()))
        if not hasattr(md.mmdataset, "hard_unify"):  # the 2019 PyPI copy
            mp.setattr(sdk_dataset, "epsilon", CURRENT_SDK_EPS)
            mp.setattr(md.mmdataset, "_mmdataset__unify_dataset", _current_unify)
        yield md


def _sdk_write(sdk, path, root, videos):
    """Write ``{video: (intervals, features)}`` with the SDK's own writer."""
    seq = sdk.computational_sequence(root)
    seq.setData({v: {"intervals": iv, "features": ft} for v, (iv, ft) in videos.items()}, root)
    template = sdk.configurations.metadataconfigs.featuresetMetadataTemplate
    metadata = {key: f"emotrans test ({key})" for key in template}
    metadata["root name"] = root
    seq.setMetadata(metadata, root)
    seq.deploy(str(path))
    return str(path)


def _sdk_recipe(sdk, paths, folds, seq_len=SEQ_LEN):
    """The SDK's CMU-MOSI/MOSEI recipe; returns split -> (ids, {name: array})."""

    def mean(intervals, features):
        return np.average(features, axis=0)

    with contextlib.redirect_stdout(io.StringIO()):  # the SDK prints its progress
        data = sdk.mmdataset({m: paths[m] for m in ("text", "audio", "vision")})
        data.align("text", collapse_functions=[mean])
        data.impute("text")
        data.add_computational_sequences({"labels": paths["labels"]}, None)
        data.align("labels")
        _hard_unify(data)
        lists = [folds[s] for s in SPLITS]
        tensors, ids = _get_tensors(data, seq_len, lists, non_sequences=["labels"])
    return {s: (ids[i], tensors[i]) for i, s in enumerate(SPLITS)}


# -- files like CMU-MOSI's -----------------------------------------------------------------------


def _video(rng, index):
    """One video's rows: words, COVAREP-like audio, FACET-like vision, labelled segments."""
    n = 24
    length = rng.uniform(0.15, 0.6, n)
    pause = np.where(rng.random(n) < 0.25, rng.uniform(0.3, 1.2, n), 0.0)
    start = np.cumsum(np.concatenate([[0.4], (length + pause)[:-1]]))
    words = np.stack([start, start + length], axis=1)
    words[5, 1] = words[5, 0]  # a zero-length word: no step
    words[9, 0] = words[8, 0] + 0.05  # words 8 and 9 overlap
    words = np.round(words, 3)
    end = float(words[:, 1].max()) + 0.5

    edges = np.round(np.arange(0.0, end, 0.1), 3)
    audio = np.stack([edges[:-1], edges[1:]], axis=1)
    gap = (audio[:, 0] > words[14, 0] - 0.05) & (audio[:, 1] < words[17, 1] + 0.05)
    audio = audio[~gap]  # the words in the gap get no frame: imputed
    audio_ft = rng.normal(size=(len(audio), 5))
    audio_ft[rng.random(len(audio)) < 0.04, 0] = -np.inf  # F0 of unvoiced frames

    s = np.round(np.sort(rng.uniform(0, end, 3 * n)), 3)
    vision = np.stack([s, s + rng.choice([0.03, 0.2, 0.5], len(s))], axis=1)  # overlapping
    vision = vision[~((vision[:, 0] > words[3, 0] - 0.6) & (vision[:, 0] < words[4, 1]))]
    vision = vision[rng.permutation(len(vision))]  # stored out of time order
    vision_ft = rng.normal(size=(len(vision), 4)).astype(np.float32)

    a, b = float(words[2, 0]), float(words[12, 1])
    segments = np.round(
        [
            [words[10, 0], end - 0.4],  # stored before an earlier segment
            [a, b],
            [a + 0.3, words[20, 1]],  # overlaps the previous one
            [words[16, 0], words[16, 0]],  # zero length: skipped
            [words[15, 0] - 0.01, words[17, 1]],  # audio only imputed
            [end - 0.3, end],  # after the last word: no row, dropped by hard unify
            [0.0, end],
        ],
        3,
    )
    labels = rng.integers(-3, 4, (len(segments), 7)).astype(np.float64) / 2
    labels[:, 1:] = np.abs(labels[:, 1:])
    return {
        "text": (words, rng.normal(size=(n, 6)).astype(np.float32)),
        "audio": (audio, audio_ft),
        "vision": (vision, vision_ft),
        "labels": (segments, labels),
    }


@pytest.fixture(scope="module")
def mosi_like(sdk, tmp_path_factory):
    """Paths of SDK-written files for :data:`VIDEOS`."""
    rng = np.random.default_rng(13)
    files = {m: {} for m in ("text", "audio", "vision", "labels")}
    for index, video in enumerate(VIDEOS):
        for m, rows in _video(rng, index).items():
            files[m][video] = rows
    files["vision"].pop("25522")
    files["audio"].pop("9J25DZhivz8")
    words, feats = files["text"]["Iu2PFX3z_1s"]
    files["text"]["Iu2PFX3z_1s"] = (np.repeat(words[:, :1], 2, axis=1), feats)
    folder = tmp_path_factory.mktemp("sdk_written")
    roots = {"text": "glove_vectors", "audio": "COVAREP", "vision": "FACET_4.2"}
    roots["labels"] = "Opinion Segment Labels"
    with contextlib.redirect_stdout(io.StringIO()):
        return {
            m: _sdk_write(sdk, folder / f"{m}.csd", roots[m], videos) for m, videos in files.items()
        }


@pytest.fixture(scope="module")
def sdk_out(sdk, mosi_like):
    return _sdk_recipe(sdk, mosi_like, FOLDS)


def _ours(paths, sdk_compat, workers=1):
    return convert_csd(
        paths["text"],
        paths["labels"],
        FOLDS,
        audio=paths["audio"],
        vision=paths["vision"],
        seq_len=SEQ_LEN,
        sdk_compat=sdk_compat,
        workers=workers,
    )


def _sdk_features(tensors, m):
    """The SDK's tensors as ours: float32, non-finite values replaced by 0."""
    x = np.array(tensors[m], dtype=np.float32)
    x[~np.isfinite(x)] = 0
    return x


def _assert_split_equal(ours, sentiment, ids, tensors, keep=None):
    """One split of ours against the SDK's (``keep``: our sample indices to compare)."""
    keep = np.arange(len(ours.ids)) if keep is None else keep
    assert ours.ids[keep].tolist() == ids
    if not ids:
        return 0.0
    worst = 0.0
    for m in ("text", "audio", "vision"):
        want = _sdk_features(tensors, m)
        np.testing.assert_allclose(ours.features[m][keep], want, rtol=0, atol=1e-6)
        worst = max(worst, float(np.abs(ours.features[m][keep] - want).max()))
    labels = np.asarray(tensors["labels"])[:, 0, :]  # (N, 7), All Labels order
    np.testing.assert_array_equal(ours.intensities[keep], labels[:, list(EMOTION_COLUMNS)])
    np.testing.assert_array_equal(sentiment[keep], labels[:, 0])
    return worst


# -- the comparisons -----------------------------------------------------------------------------


def test_the_files_hold_every_case_the_comparison_is_about(sdk_out, mosi_like):
    conversion = _ours(mosi_like, sdk_compat=True)
    report = conversion.report
    assert report.dropped_prefix == list(PREFIX_REMOVED)
    assert report.imputed["audio"] > 0 and report.imputed["vision"] > 0
    assert report.short_segments > 0 and report.dropped_segments > 0
    assert report.no_fold_videos == 1
    assert sum(report.nonfinite.values()) > 0
    assert sum(len(ids) for ids, _ in sdk_out.values()) > 30


def test_sdk_compat_equals_the_sdk(sdk_out, mosi_like):
    conversion = _ours(mosi_like, sdk_compat=True)
    for split in SPLITS:
        ids, tensors = sdk_out[split]
        ours = conversion.dataset[split]
        _assert_split_equal(ours, conversion.sentiment[split], ids, tensors)


def test_default_equals_the_sdk_but_keeps_the_videos_it_removes_by_prefix(sdk_out, mosi_like):
    conversion = _ours(mosi_like, sdk_compat=False)
    assert conversion.report.dropped_prefix == []
    kept_extra = set()
    for split in SPLITS:
        ids, tensors = sdk_out[split]
        ours = conversion.dataset[split]
        videos = np.array([i.split("[")[0] for i in ours.ids.tolist()])
        extra = np.isin(videos, PREFIX_REMOVED)
        kept_extra |= set(videos[extra].tolist())
        _assert_split_equal(
            ours, conversion.sentiment[split], ids, tensors, keep=np.flatnonzero(~extra)
        )
    assert kept_extra == set(PREFIX_REMOVED)


def test_the_command_line_sdk_compat_equals_the_sdk(sdk_out, mosi_like, tmp_path):
    from emotrans.cli import main
    from emotrans.data import load

    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps(FOLDS))
    out = tmp_path / "mosi.h5"
    argv = ["data", "from-csd", "--sdk-compat", "--folds", str(folds), "--out", str(out)]
    for m in ("text", "audio", "vision", "labels"):
        argv += [f"--{m}", mosi_like[m]]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    dataset = load(out)
    for split in SPLITS:
        ids, tensors = sdk_out[split]
        assert dataset[split].ids.tolist() == ids
        for m in ("text", "audio", "vision"):
            np.testing.assert_allclose(
                dataset[split].features[m], _sdk_features(tensors, m), rtol=0, atol=1e-6
            )
