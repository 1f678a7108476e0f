"""Alignment of CMU-MultimodalSDK computational sequences (docs/design.md,
"Alignment of .csd files"), on tiny .csd files.

Every case writes real ``.csd`` files (the SDK's HDF5 layout) into ``tmp_path`` and converts
them with :func:`convert_csd`; the expected numbers are worked out by hand in the comments.
The last tests compare the vectorised code with a literal, loop-by-loop reading of the rules
on random intervals, in both the default and the ``sdk_compat`` modes.
"""

from __future__ import annotations

import numpy as np
import pytest

from emotrans.data.csd import write_csd
from emotrans.data.csd_align import (
    EMOTIONS,
    LABEL_COLUMNS,
    collapse_to_reference,
    convert_csd,
    overlap_pairs,
)
from emotrans.errors import ConfigError, DataFormatError

A = np.asarray


def iv(*pairs: tuple[float, float]) -> np.ndarray:
    return np.array(pairs, dtype=np.float64).reshape(-1, 2)


def frames(start: float, stop: float, rate: float) -> np.ndarray:
    """Back-to-back frame intervals covering [start, stop)."""
    n = int(round((stop - start) * rate))
    edges = start + np.arange(n + 1) / rate
    return np.stack([edges[:-1], edges[1:]], axis=1)


def label_row(sentiment=0.0, happy=0.0, sad=0.0, anger=0.0, surprise=0.0, disgust=0.0, fear=0.0):
    return [sentiment, happy, sad, anger, surprise, disgust, fear]


def write_set(tmp_path, text, labels, audio=None, vision=None, folds=None):
    """Write the .csd files of ``{video: (intervals, features)}`` dicts; returns kwargs for
    :func:`convert_csd`. Every video goes to train unless ``folds`` says otherwise."""
    paths = {}
    for name, videos, root in (
        ("text", text, "glove_vectors"),
        ("audio", audio, "COVAREP"),
        ("vision", vision, "FACET 4.2"),
        ("labels", labels, "All Labels"),
    ):
        if videos is None:
            continue
        videos = {
            v: (A(i, dtype=np.float64), A(f, dtype=np.float32)) for v, (i, f) in videos.items()
        }
        paths[name] = str(write_csd(tmp_path / f"{name}.csd", root, videos))
    if folds is None:
        folds = {"train": sorted(set(text) | set(labels)), "valid": [], "test": []}
    return dict(
        text=paths["text"],
        labels=paths["labels"],
        audio=paths.get("audio"),
        vision=paths.get("vision"),
        folds=folds,
    )


def words_of(n: int, start: float = 0.0, step: float = 1.0, dim: int = 2):
    """n back-to-back words of ``step`` seconds; features [k, 10k] for word k."""
    starts = start + step * np.arange(n)
    feats = np.stack([np.arange(n), 10 * np.arange(n)], axis=1)[:, :dim]
    return np.stack([starts, starts + step], axis=1), feats.astype(np.float32)


# -- step 1: onto the words ---------------------------------------------------------------------


def test_rows_partly_inside_a_word_are_clipped_and_averaged():
    # word [0, 1]; rows [-0.5, 0.5] (f=1) and [0.5, 1.5] (f=3) both overlap it by 0.5 s.
    got = collapse_to_reference(iv((0, 1)), iv((-0.5, 0.5), (0.5, 1.5)), A([[1.0], [3.0]]))
    assert got.present.tolist() == [True]
    assert got.features[0, 0] == pytest.approx(2.0)
    assert got.intervals[0].tolist() == [0.0, 1.0]  # clipped to the word


def test_collapsed_interval_spans_the_clipped_rows_only():
    # word [0, 2]; one frame [0.5, 0.8]: the collapsed row keeps [0.5, 0.8], not the word.
    got = collapse_to_reference(iv((0, 2)), iv((0.5, 0.8)), A([[4.0]]))
    assert got.intervals[0].tolist() == [0.5, 0.8]


def test_rows_that_only_touch_a_word_boundary_vanish():
    # word [1, 2]; rows [0, 1] and [2, 3] touch it: clipped length 0 -> nothing -> imputed.
    got = collapse_to_reference(iv((1, 2)), iv((0, 1), (2, 3)), A([[5.0], [7.0]]))
    assert got.present.tolist() == [False]
    assert got.features[0].tolist() == [0.0]
    assert got.intervals[0].tolist() == [1.0, 2.0]


def test_overlap_within_tolerance_is_dropped_and_beyond_it_kept():
    word = iv((1, 2))
    inside_eps = collapse_to_reference(word, iv((0, 1 + 5e-6)), A([[1.0]]))
    beyond_eps = collapse_to_reference(word, iv((0, 1 + 5e-5)), A([[1.0]]))
    assert inside_eps.present.tolist() == [False]
    assert beyond_eps.present.tolist() == [True]


def test_rows_stored_out_of_time_order_and_overlapping_are_all_found():
    rows = iv((2.0, 2.5), (0.0, 3.0), (0.2, 0.4), (1.1, 1.2))
    ref, row, start, end = overlap_pairs(iv((0, 1), (1, 2)), rows)
    pairs = sorted(zip(ref.tolist(), row.tolist()))
    assert pairs == [(0, 1), (0, 2), (1, 1), (1, 3)]
    assert dict(zip(zip(ref.tolist(), row.tolist()), zip(start, end)))[(1, 1)] == (1.0, 2.0)


@pytest.mark.parametrize(
    ("collapse", "expected"), [("mean", 2.0), ("sum", 4.0), ("max", 3.0), ("min", 1.0)]
)
def test_named_collapse_functions(collapse, expected):
    got = collapse_to_reference(
        iv((0, 1)), iv((0, 0.5), (0.5, 1)), A([[1.0], [3.0]]), collapse=collapse
    )
    assert got.features[0, 0] == pytest.approx(expected)


def test_a_callable_collapse_gets_the_clipped_intervals_and_the_rows():
    seen = []

    def longest(intervals, features):
        seen.append(intervals.copy())
        return features[np.argmax(intervals[:, 1] - intervals[:, 0])]

    got = collapse_to_reference(
        iv((0, 1)), iv((-1, 0.3), (0.3, 2)), A([[1.0], [9.0]]), collapse=longest
    )
    assert got.features[0, 0] == 9.0
    assert seen[0].tolist() == [[0.0, 0.3], [0.3, 1.0]]


def test_unknown_collapse_name_is_a_config_error(tmp_path):
    w, f = words_of(2)
    kw = write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 2)), [label_row()])})
    with pytest.raises(ConfigError, match="median"):
        convert_csd(**kw, collapse="median")


# -- whole conversion ---------------------------------------------------------------------------


def test_each_labelled_segment_becomes_one_sample_of_its_words(tmp_path):
    w, f = words_of(6)  # words [k, k+1], features [k, 10k]
    labels = {"v": (iv((0, 3), (3, 6)), [label_row(happy=1), label_row(sad=2)])}
    kw = write_set(tmp_path, {"v": (w, f)}, labels)
    ds = convert_csd(**kw, seq_len=4).dataset
    train = ds["train"]
    assert train.ids.tolist() == ["v[0]", "v[1]"]
    x = train.features["text"]  # (2, 4, 2)
    # Segment [0, 3] takes words 0, 1, 2 (word 3 only touches it): one zero step in front.
    assert x[0].tolist() == [[0, 0], [0, 0], [1, 10], [2, 20]]
    assert x[1].tolist() == [[0, 0], [3, 30], [4, 40], [5, 50]]
    assert train.lengths["text"].tolist() == [3, 3]


def test_only_the_last_seq_len_words_are_kept(tmp_path):
    w, f = words_of(5)
    kw = write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 5)), [label_row(anger=1)])})
    x = convert_csd(**kw, seq_len=3).dataset["train"].features["text"]
    assert x[0, :, 0].tolist() == [2, 3, 4]


def test_words_shorter_than_tolerance_give_no_step(tmp_path):
    w = iv((0, 1), (1, 1), (1, 2), (2, 2 + 5e-6), (2.5, 3))
    f = A([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]], dtype=np.float32)
    kw = write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 3)), [label_row()])})
    train = convert_csd(**kw, seq_len=5).dataset["train"]
    assert train.features["text"][0, :, 0].tolist() == [0, 0, 1, 3, 5]
    assert train.lengths["text"].tolist() == [3]


def test_word_features_are_the_mean_of_the_clipped_frames(tmp_path):
    w, f = words_of(2, dim=1)
    audio_iv = frames(0, 2, 4)  # 8 frames of 0.25 s
    audio_ft = np.arange(8, dtype=np.float32)[:, None]  # frame k has value k
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        {"v": (iv((0, 2)), [label_row()])},
        audio={"v": (audio_iv, audio_ft)},
    )
    a = convert_csd(**kw, seq_len=2).dataset["train"].features["audio"]
    assert a[0, :, 0].tolist() == [1.5, 5.5]  # mean(0..3), mean(4..7)


def test_minus_inf_in_a_frame_makes_the_word_zero_and_is_counted(tmp_path):
    w, f = words_of(2, dim=1)
    audio_iv = frames(0, 2, 2)  # 4 frames of 0.5 s
    audio_ft = A([[-np.inf, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], dtype=np.float32)
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        {"v": (iv((0, 2)), [label_row()])},
        audio={"v": (audio_iv, audio_ft)},
    )
    result = convert_csd(**kw, seq_len=2)
    a = result.dataset["train"].features["audio"]
    # Word 0: mean(-inf, 2) = -inf -> 0; its other column is mean(1, 3) = 2.
    assert a[0].tolist() == [[0.0, 2.0], [5.0, 6.0]]
    assert result.dataset.nonfinite["train/audio"] == 1
    assert result.report.nonfinite["train/audio"] == 1


def test_word_without_frames_is_imputed_with_zeros_at_its_position(tmp_path):
    w, f = words_of(3, dim=1)
    vision_iv = iv((0, 1), (2, 3))  # nothing during word 1
    vision_ft = A([[7.0], [9.0]], dtype=np.float32)
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        {"v": (iv((0, 3)), [label_row()])},
        vision={"v": (vision_iv, vision_ft)},
    )
    result = convert_csd(**kw, seq_len=3)
    assert result.dataset["train"].features["vision"][0, :, 0].tolist() == [7.0, 0.0, 9.0]
    assert result.report.imputed == {"vision": 1}


def test_sdk_compat_also_keeps_imputed_rows_at_their_word(tmp_path):
    # The current SDK sorts a video's word-level rows by start time, imputed ones included.
    w, f = words_of(3, dim=1)
    vision_iv = iv((0, 1), (2, 3))
    vision_ft = A([[7.0], [9.0]], dtype=np.float32)
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        {"v": (iv((0, 3)), [label_row()])},
        vision={"v": (vision_iv, vision_ft)},
    )
    x = convert_csd(**kw, seq_len=3, sdk_compat=True).dataset["train"].features
    assert x["vision"][0, :, 0].tolist() == [7.0, 0.0, 9.0]
    assert x["text"][0, :, 0].tolist() == [0.0, 1.0, 2.0]


def test_imputed_rows_are_clipped_with_their_word_interval(tmp_path):
    # Segment [0, 1.5] takes words 0 and 1 ([1, 2] clipped to [1, 1.5]). Vision has frames in
    # word 0 only, so word 1 is imputed over [1, 2] and still meets the segment.
    w, f = words_of(3, dim=1)
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        {"v": (iv((0, 1.5)), [label_row()])},
        vision={"v": (iv((0, 1)), A([[4.0]], dtype=np.float32))},
    )
    train = convert_csd(**kw, seq_len=3).dataset["train"]
    assert train.features["vision"][0, :, 0].tolist() == [0.0, 4.0, 0.0]
    assert train.lengths["vision"].tolist() == [2]


def test_segment_missing_in_one_sequence_is_dropped(tmp_path):
    # Word [0, 1] has audio frames over [0, 0.5] only, so its audio row spans [0, 0.5]: the
    # segment [0.7, 1.0] meets the word (text) but not its audio row -> no sample for it.
    w, f = words_of(1, dim=1)
    labels = {"v": (iv((0.0, 0.6), (0.7, 1.0)), [label_row(), label_row()])}
    kw = write_set(
        tmp_path,
        {"v": (w, f)},
        labels,
        audio={"v": (frames(0, 0.5, 10), np.ones((5, 1), np.float32))},
    )
    result = convert_csd(**kw)
    assert result.dataset["train"].ids.tolist() == ["v[0]"]
    assert result.report.dropped_segments == 1
    assert result.report.missing_segments == {"text": 0, "audio": 1}


def test_segments_shorter_than_tolerance_are_skipped(tmp_path):
    w, f = words_of(2)
    labels = {"v": (iv((0, 2), (1, 1 + 5e-6)), [label_row(), label_row()])}
    result = convert_csd(**write_set(tmp_path, {"v": (w, f)}, labels))
    assert result.dataset["train"].ids.tolist() == ["v[0]"]
    assert result.report.short_segments == 1


def test_label_rows_stored_out_of_time_order_keep_their_row_index(tmp_path):
    w, f = words_of(6, dim=1)
    labels = {"v": (iv((3, 6), (0, 3)), [label_row(fear=1), label_row(happy=1)])}
    train = convert_csd(**write_set(tmp_path, {"v": (w, f)}, labels), seq_len=3).dataset["train"]
    assert train.ids.tolist() == ["v[0]", "v[1]"]
    assert train.features["text"][:, :, 0].tolist() == [[3, 4, 5], [0, 1, 2]]
    assert train.intensities[:, EMOTIONS.index("fear")].tolist() == [1.0, 0.0]


def test_label_columns_are_reordered_into_our_emotion_order(tmp_path):
    row = label_row(sentiment=-1.5, happy=1, sad=0, anger=2, surprise=0, disgust=1 / 3, fear=0)
    w, f = words_of(2)
    result = convert_csd(**write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 2)), [row])}))
    train = result.dataset["train"]
    assert result.dataset.emotions == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert train.intensities[0] == pytest.approx([2, 1 / 3, 0, 1, 0, 0])
    assert train.labels[0].tolist() == [1, 1, 0, 1, 0, 0]
    assert result.sentiment["train"].tolist() == [-1.5]
    assert LABEL_COLUMNS == ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")


def test_samples_follow_hdf5_name_order_then_segment_index(tmp_path):
    w, f = words_of(4)
    text = {"zeta": (w, f), "alpha": (w, f + 100)}
    seg = (iv((0, 2), (2, 4)), [label_row(), label_row()])
    train = convert_csd(**write_set(tmp_path, text, {"zeta": seg, "alpha": seg})).dataset["train"]
    assert train.ids.tolist() == ["alpha[0]", "alpha[1]", "zeta[0]", "zeta[1]"]


def test_video_missing_from_one_sequence_is_dropped_and_reported(tmp_path):
    w, f = words_of(2, dim=1)
    seg = (iv((0, 2)), [label_row()])
    aud = (frames(0, 2, 10), np.ones((20, 1), np.float32))
    kw = write_set(tmp_path, {"a": (w, f), "b": (w, f)}, {"a": seg, "b": seg}, audio={"a": aud})
    result = convert_csd(**kw)
    assert result.dataset["train"].ids.tolist() == ["a[0]"]
    assert result.report.dropped_missing == ["b"]
    assert result.report.missing_from == {"audio": ["b"]}
    assert any("not present in every file" in line for line in result.report.lines())


@pytest.mark.parametrize(
    ("sdk_compat", "kept"), [(False, ["vid10[0]", "vid2[0]"]), (True, ["vid2[0]"])]
)
def test_ids_that_prefix_other_ids(tmp_path, sdk_compat, kept):
    # vid1 has no vision: the SDK removes every id starting with "vid1", vid10 included.
    w, f = words_of(2, dim=1)
    seg = (iv((0, 2)), [label_row()])
    vis = (frames(0, 2, 10), np.ones((20, 1), np.float32))
    text = {v: (w, f) for v in ("vid1", "vid10", "vid2")}
    kw = write_set(tmp_path, text, dict.fromkeys(text, seg), vision={"vid10": vis, "vid2": vis})
    result = convert_csd(**kw, sdk_compat=sdk_compat)
    assert result.dataset["train"].ids.tolist() == kept
    assert result.report.dropped_missing == ["vid1"]
    assert result.report.dropped_prefix == ([] if not sdk_compat else ["vid10"])


def test_prefix_removal_also_follows_ids_missing_from_the_labels(tmp_path):
    # "ab" has features but no labels: a violator at the second unify, taking "abc" along.
    w, f = words_of(2)
    seg = (iv((0, 2)), [label_row()])
    text = {"ab": (w, f), "abc": (w, f), "b": (w, f)}
    kw = write_set(tmp_path, text, {"abc": seg, "b": seg})
    assert convert_csd(**kw).dataset["train"].ids.tolist() == ["abc[0]", "b[0]"]
    assert convert_csd(**kw, sdk_compat=True).dataset["train"].ids.tolist() == ["b[0]"]


def test_splits_follow_the_folds_and_videos_in_no_fold_are_reported(tmp_path):
    w, f = words_of(2)
    seg = (iv((0, 1), (1, 2)), [label_row(), label_row()])
    text = {v: (w, f) for v in ("a", "b", "c", "d")}
    folds = {"train": ["a", "ghost"], "valid": ["b"], "test": ["c"]}
    result = convert_csd(**write_set(tmp_path, text, dict.fromkeys(text, seg), folds=folds))
    ds = result.dataset
    assert {s: ds[s].ids.tolist() for s in ds.splits} == {
        "train": ["a[0]", "a[1]"],
        "valid": ["b[0]", "b[1]"],
        "test": ["c[0]", "c[1]"],
    }
    assert (result.report.no_fold_videos, result.report.no_fold_segments) == (1, 2)
    assert result.report.fold_ids_in_no_file == {"train": 1, "valid": 0, "test": 0}


def test_a_fold_naming_no_video_of_the_files_is_an_error(tmp_path):
    w, f = words_of(2)
    folds = {"train": ["v"], "valid": ["x", "y"], "test": []}
    kw = write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 2)), [label_row()])}, folds=folds)
    with pytest.raises(DataFormatError, match="valid fold"):
        convert_csd(**kw)


def test_labels_with_other_than_one_or_seven_columns_are_rejected(tmp_path):
    w, f = words_of(2)
    kw = write_set(tmp_path, {"v": (w, f)}, {"v": (iv((0, 2)), [[0.5, 0.1]])})
    with pytest.raises(DataFormatError, match="2 label columns"):
        convert_csd(**kw)


def test_parallel_workers_give_the_same_dataset(tmp_path):
    rng = np.random.default_rng(3)
    text, labels, audio = {}, {}, {}
    for k in range(6):
        w, f = words_of(8, dim=2)
        text[f"v{k}"] = (w, f + k)
        labels[f"v{k}"] = (iv((0, 4), (4, 8)), [label_row(happy=k % 2), label_row(sad=1)])
        audio[f"v{k}"] = (frames(0, 8, 10), rng.standard_normal((80, 3)).astype(np.float32))
    kw = write_set(tmp_path, text, labels, audio=audio)
    one = convert_csd(**kw).dataset["train"]
    two = convert_csd(**kw, workers=2).dataset["train"]
    assert one.ids.tolist() == two.ids.tolist()
    for m in ("text", "audio"):
        np.testing.assert_array_equal(one.features[m], two.features[m])


# -- the vectorised code against a literal reading of the rules ----------------------------------


EPS = 1e-5


def _literal(text, audio, vision, labels, folds, seq_len, compat):
    """docs/design.md, "Alignment of .csd files", step by step with Python loops and dicts of
    keys, as the SDK works: imputed keys are appended to the dicts, and a video's pooled
    word-level rows are sorted by start time (stable) before the label step. The comparison
    with the SDK's own code is tests/test_csd_sdk.py."""
    seqs = {"text": text, "audio": audio, "vision": vision}

    def drop(keys, violators):
        if compat:
            return {k: v for k, v in keys.items() if not any(k.startswith(x) for x in violators)}
        return {k: v for k, v in keys.items() if k.split("[")[0] not in violators}

    ids = [set(d) for d in seqs.values()]
    violators = set.union(*ids) - set.intersection(*ids)
    seqs = {m: drop(d, violators) for m, d in seqs.items()}

    aligned = {m: {} for m in seqs}  # key "v[i]" -> (interval (2,), features (D,), word start)
    for v in sorted(seqs["text"]):
        wiv, wft = seqs["text"][v]
        for i, (rs, re) in enumerate(wiv):
            if abs(rs - re) < EPS:
                continue
            key = f"{v}[{i}]"
            aligned["text"][key] = (np.array([rs, re]), wft[i].astype(np.float64))
            for m in ("audio", "vision"):
                miv, mft = seqs[m][v]
                got = []
                for j in np.argsort(miv[:, 0], kind="stable"):
                    s, e = miv[j]
                    if (re - s) > -EPS and (e - rs) > -EPS:
                        cs, ce = max(s, rs), min(e, re)
                        if abs(cs - ce) > EPS:
                            got.append((cs, ce, mft[j].astype(np.float64)))
                if got:
                    span = np.array([min(g[0] for g in got), max(g[1] for g in got)])
                    aligned[m][key] = (span, np.mean([g[2] for g in got], axis=0))
    for key, (span, _) in aligned["text"].items():  # impute, appended at the end
        for m in ("audio", "vision"):
            if key not in aligned[m]:
                dim = (
                    next(iter(vision.values()))[1].shape[1]
                    if m == "vision"
                    else next(iter(audio.values()))[1].shape[1]
                )
                aligned[m][key] = (span, np.zeros(dim))

    with_words = {k.split("[")[0] for k in aligned["text"]}
    violators2 = (with_words | set(labels)) - (with_words & set(labels))
    aligned = {m: drop(d, violators2) for m, d in aligned.items()}
    labels = drop(labels, violators2)

    owner = {}
    for split in ("train", "valid", "test"):
        for v in folds[split]:
            owner.setdefault(v, split)
    out = {s: {"ids": [], "x": {m: [] for m in seqs}, "y": []} for s in owner.values()}
    for v in sorted(labels):
        liv, lft = labels[v]
        for i, (ls, le) in enumerate(liv):
            if abs(ls - le) < EPS:
                continue
            steps = {}
            for m, rows in aligned.items():
                pooled = [r for k, r in rows.items() if k.split("[")[0] == v]
                pooled.sort(key=lambda r: r[0][0])  # stable: dict order breaks ties
                kept = []
                for span, feat in pooled:
                    s, e = span
                    if (le - s) > -EPS and (e - ls) > -EPS:
                        if abs(max(s, ls) - min(e, le)) > EPS:
                            kept.append(feat)
                steps[m] = kept
            if any(not rows for rows in steps.values()) or v not in owner:
                continue
            split = out[owner[v]]
            split["ids"].append(f"{v}[{i}]")
            split["y"].append(lft[i])
            for m, kept in steps.items():
                x = np.zeros((seq_len, len(kept[0])))
                tail = np.array(kept[-seq_len:])
                x[seq_len - len(tail) :] = tail
                x[~np.isfinite(x)] = 0
                split["x"][m].append(x)
    return out


def _random_video(rng, dims):
    n_w = int(rng.integers(3, 14))
    starts = np.sort(rng.uniform(0, 10, n_w))
    lengths = rng.choice([0.0, 3e-6, 0.2, 0.5, 1.0], n_w, p=[0.1, 0.05, 0.3, 0.35, 0.2])
    words = np.round(np.stack([starts, starts + lengths], axis=1), 2)
    if rng.random() < 0.3:  # touching words
        words[1:, 0] = np.maximum(words[1:, 0], words[:-1, 1])
        words[:, 1] = np.maximum(words[:, 1], words[:, 0])
    out = {"text": (words, rng.integers(-3, 4, (n_w, dims["text"])).astype(np.float32))}
    for m in ("audio", "vision"):
        if rng.random() < 0.5:
            fr = frames(0, 11, rng.choice([5, 10]))
            keep = rng.random(len(fr)) > 0.3  # gaps -> imputed words
            fr = fr[keep]
        else:  # irregular rows: overlapping, out of order, some tiny
            n = int(rng.integers(0, 25))
            s = np.round(rng.uniform(-0.5, 11, n), 2)
            fr = np.stack([s, s + rng.choice([0.0, 4e-6, 0.1, 0.7, 2.0], n)], axis=1)
        ft = rng.integers(-4, 5, (len(fr), dims[m])).astype(np.float32)
        if len(ft) and rng.random() < 0.2:
            ft[rng.integers(len(ft)), 0] = -np.inf
        out[m] = (fr, ft)
    n_s = int(rng.integers(1, 5))
    s = np.round(rng.uniform(-0.5, 10, n_s), 2)
    seg = np.stack([s, s + rng.choice([0.0, 0.5, 2.0, 4.0], n_s)], axis=1)
    lab = rng.integers(0, 4, (n_s, 7)).astype(np.float32)
    out["labels"] = (seg, lab)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sdk_compat", [False, True])
def test_vectorised_conversion_equals_a_literal_reading_of_the_rules(tmp_path, seed, sdk_compat):
    rng = np.random.default_rng(seed)
    dims = {"text": 3, "audio": 2, "vision": 2}
    names = ["v1", "v10", "v2", "v3", "v30", "v4", "w"]
    data = {m: {} for m in ("text", "audio", "vision", "labels")}
    for name in names:
        video = _random_video(rng, dims)
        for m, rows in video.items():
            if rng.random() > 0.08:  # now and then a video is missing from a file
                data[m][name] = rows
    folds = {"train": names[:4], "valid": names[4:6], "test": ["w", "ghost"]}
    seq_len = 4
    kw = write_set(tmp_path, data["text"], data["labels"], data["audio"], data["vision"], folds)
    ds = convert_csd(**kw, seq_len=seq_len, sdk_compat=sdk_compat).dataset
    expected = _literal(
        data["text"], data["audio"], data["vision"], data["labels"], folds, seq_len, sdk_compat
    )
    for split in ("train", "valid", "test"):
        want = expected.get(split, {"ids": []})
        got = ds[split]
        assert got.ids.tolist() == want["ids"]
        if not want["ids"]:
            continue
        for m in ("text", "audio", "vision"):
            np.testing.assert_allclose(
                got.features[m], np.array(want["x"][m]), rtol=1e-6, atol=1e-6
            )
        raw = np.array(want["y"])
        np.testing.assert_allclose(got.intensities, raw[:, [3, 5, 6, 1, 2, 4]])


def test_reopening_the_files_mid_stream_changes_nothing(tmp_path, monkeypatch):
    import emotrans.data.csd_align as csd_align

    text, labels = {}, {}
    for k in range(5):
        w, f = words_of(4)
        text[f"v{k}"] = (w, f + k)
        labels[f"v{k}"] = (iv((0, 2), (2, 4)), [label_row(), label_row(sad=k)])
    kw = write_set(tmp_path, text, labels)
    steady = convert_csd(**kw).dataset["train"]
    monkeypatch.setattr(csd_align, "_RELEASE_EVERY", 2)
    reopened = convert_csd(**kw, sdk_compat=True).dataset["train"]
    assert steady.ids.tolist() == reopened.ids.tolist()
    np.testing.assert_array_equal(steady.features["text"], reopened.features["text"])
    np.testing.assert_array_equal(steady.intensities, reopened.intensities)
