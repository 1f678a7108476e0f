"""Raw layouts: tiny fixtures written in each release's layout (a few bytes where the media
are not opened), read through the layout registry."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from emotrans.data.csd import write_csd
from emotrans.errors import DataFormatError
from emotrans.media.extractors.base import Clip
from emotrans.media.layouts import iemocap, meld
from emotrans.media.layouts.base import Layout, RawClip, RawDataset
from emotrans.media.layouts.registry import (
    detect_layout,
    layout_names,
    read_layout,
    register_layout,
    unregister_layout,
)


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# -- manifest ----------------------------------------------------------------------------------


def test_manifest_label_column_is_single_label_with_sorted_names_and_a_recorded_split(tmp_path):
    rows = [[f"clips/c{i}.mp4", ["joy", "anger", "calm"][i % 3]] for i in range(30)]
    path = _csv(tmp_path / "clips.csv", ["path", "label"], rows)
    raw = read_layout(path)
    assert raw.single_label and raw.emotions == ["anger", "calm", "joy"]
    assert raw.split == {"kind": "stratified", "seed": 0, "fractions": [0.8, 0.1, 0.1]}
    assert raw.counts() == {"train": 24, "valid": 3, "test": 3}
    for split in ("valid", "test"):  # stratified: every class in every held-out split
        names = {raw.emotions[int(c.labels.argmax())] for c in raw.clips if c.split == split}
        assert names == {"anger", "calm", "joy"}
    assert raw.clips[0].clip.path == str(tmp_path / "clips" / "c0.mp4")
    assert raw.clips[0].id == "clips/c0"
    again = read_layout(path)
    assert [c.split for c in again.clips] == [c.split for c in raw.clips]
    other = read_layout(path, seed=1)
    assert [c.split for c in other.clips] != [c.split for c in raw.clips]


def test_manifest_emotion_columns_keep_intensities_start_end_transcript_and_split(tmp_path):
    path = _csv(
        tmp_path / "m.csv",
        ["path", "start", "end", "transcript", "split", "happy", "sad"],
        [
            ["a.mp4", "1.5", "3", "hello there", "train", "1", "0"],
            ["a.mp4", "3", "4.5", "", "dev", "0", "2.5"],
            ["/abs/b.wav", "", "", "", "TEST", "0", "0"],
        ],
    )
    raw = read_layout(path)
    assert not raw.single_label and raw.emotions == ["happy", "sad"]
    assert [c.split for c in raw.clips] == ["train", "valid", "test"]
    assert raw.split == {"kind": "manifest"}
    first, second, third = raw.clips
    assert (first.clip.start, first.clip.end, first.clip.transcript) == (1.5, 3.0, "hello there")
    assert second.clip.transcript is None and second.labels.tolist() == [0.0, 2.5]
    assert first.id != second.id  # the same file twice: ids made unique
    assert third.clip.path == "/abs/b.wav" and third.clip.start is None


def test_manifest_without_labels_is_new_clips_to_score_in_the_test_split(tmp_path):
    raw = read_layout(_csv(tmp_path / "new.csv", ["path"], [["x.mp4"], ["y.mp4"]]))
    assert raw.emotions == [] and raw.counts()["test"] == 2


@pytest.mark.parametrize(
    "header,rows,message",
    [
        (["file", "label"], [["a.mp4", "x"]], "no 'path' column"),
        (["path", "label"], [["a.mp4", ""]], "empty label"),
        (["path", "label", "split"], [["a.mp4", "x", "later"]], "split 'later'"),
        (["path", "happy"], [["a.mp4", "yes"]], "happy 'yes' is not a number"),
        (["path", "start", "end", "label"], [["a.mp4", "3", "2", "x"]], "not after start"),
    ],
)
def test_manifest_errors_are_one_line_naming_the_file(tmp_path, header, rows, message):
    path = _csv(tmp_path / "m.csv", header, rows)
    with pytest.raises(DataFormatError) as err:
        read_layout(path, "manifest")
    assert message in str(err.value) and "m.csv" in str(err.value) and "\n" not in str(err.value)


# -- MELD --------------------------------------------------------------------------------------

MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
               "Utterance_ID", "Season", "Episode", "StartTime", "EndTime"]  # fmt: skip


def write_meld(root: Path) -> Path:
    rows = {
        "train": [[1, "Oh my God!", "Monica", "surprise", "positive", 0, 0, 4, 14,
                   "00:08:45,608", "00:08:46,900"],
                  [2, "It\u00e2\u20ac\u2122s bad.", "Phoebe", "sadness", "negative", 0, 1, 4, 14,
                   "0:08:47,068", "0:08:50,820"]],
        "dev": [[1, "Okay.", "Ross", "neutral", "neutral", 0, 0, 5, 16,
                 "00:07:26,446", "00:07:27,487"]],
        "test": [[1, "Push!", "Joey", "joy", "positive", 1, 1, 1, 23,
                  "0:10:46,146", "0:10:46,833"]],
    }  # fmt: skip
    for split, data in rows.items():
        _csv(root / f"{split}_sent_emo.csv", MELD_HEADER, data)
    for folder, stem in [
        ("train_splits", "dia0_utt0"),
        ("train_splits", "dia0_utt1"),
        ("dev_splits_complete", "dia0_utt0"),
        ("output_repeated_splits_test", "dia1_utt1"),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{stem}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root


def test_meld_reads_the_release_csvs_and_clip_folders(tmp_path):
    root = write_meld(tmp_path / "MELD.Raw")
    assert detect_layout(root).name == "meld"
    raw = read_layout(root)
    assert raw.emotions == list(meld.EMOTIONS) and raw.single_label
    assert [c.id for c in raw.clips] == [
        "train/dia0_utt0", "train/dia0_utt1", "valid/dia0_utt0", "test/dia1_utt1"
    ]  # fmt: skip
    assert raw.counts() == {"train": 2, "valid": 1, "test": 1}
    assert raw.clips[0].clip.path == str(root / "train_splits" / "dia0_utt0.mp4")
    assert raw.clips[3].clip.path == str(root / "output_repeated_splits_test" / "dia1_utt1.mp4")
    assert raw.emotions[int(raw.clips[0].labels.argmax())] == "surprise"
    assert raw.clips[1].clip.transcript == "It\u2019s bad."  # mojibake undone
    assert all(Path(c.clip.path).is_file() for c in raw.clips)


def test_meld_unknown_emotion_is_a_one_line_error(tmp_path):
    root = write_meld(tmp_path / "MELD.Raw")
    _csv(root / "test_sent_emo.csv", MELD_HEADER, [[1, "x", "A", "bored", "neutral", 0, 0,
                                                    1, 1, "0:0:0,0", "0:0:1,0"]])  # fmt: skip
    with pytest.raises(DataFormatError, match="test_sent_emo.csv:2: emotion 'bored'"):
        read_layout(root)


# -- IEMOCAP -----------------------------------------------------------------------------------


def write_iemocap(root: Path, sessions=(1, 4, 5), video: bool = True) -> Path:
    for n in sessions:
        s = root / f"Session{n}"
        dialog = f"Ses0{n}F_impro01"
        utts = [(f"{dialog}_F000", "neu"), (f"{dialog}_M001", "exc"), (f"{dialog}_F002", "fru"),
                (f"{dialog}_M003", "xxx"), (f"{dialog}_F004", "ang")]  # fmt: skip
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        trans = []
        for i, (utt, code) in enumerate(utts):
            lines += [f"[{2 * i + 1:.4f} - {2 * i + 2.5:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 3.0000]",
                      "C-E1:\tNeutral;\t()", "A-E3:\tval 3; act 2; dom  2;\t()", ""]  # fmt: skip
            trans.append(f"{utt} [{2 * i + 1:08.4f}-{2 * i + 2.5:08.4f}]: Excuse me, word {i}.")
            wav = s / "sentences" / "wav" / dialog / f"{utt}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            wav.write_bytes(b"RIFF")
            wd = s / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"
            wd.parent.mkdir(parents=True, exist_ok=True)
            wd.write_text(
                "\tSFrm\tEFrm\tSegAScr Word\n\t0\t15\t-18331 <s>\n\t16\t37\t-16859 EXCUSE(2)\n"
                "\t38\t65\t-32539 ME\n\t66\t70\t-1000 ++BREATH++\n\t71\t90\t-57809 </s>\n"
                " Total score:   -125539\n"
            )
        ev = s / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        ev.parent.mkdir(parents=True, exist_ok=True)
        ev.write_text("\n".join(lines) + "\n")
        (s / "dialog" / "EmoEvaluation" / "Categorical").mkdir(exist_ok=True)
        tr = s / "dialog" / "transcriptions" / f"{dialog}.txt"
        tr.parent.mkdir(parents=True, exist_ok=True)
        tr.write_text("\n".join(trans) + "\n")
        if video:
            avi = s / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
            avi.parent.mkdir(parents=True, exist_ok=True)
            avi.write_bytes(b"RIFF....AVI ")
    return root


def test_iemocap_four_class_protocol_split_by_session_with_the_release_word_timing(tmp_path):
    root = write_iemocap(tmp_path / "IEMOCAP_full_release")
    assert detect_layout(root).name == "iemocap"
    raw = read_layout(root)
    assert raw.emotions == list(iemocap.FOUR_CLASS) and raw.single_label
    assert raw.counts() == {"train": 3, "valid": 3, "test": 3}  # fru and xxx left out
    assert raw.meta["left_out"] == {"fru": 3, "xxx": 3}
    first, excited = raw.clips[0], raw.clips[1]
    assert excited.id == "Ses01F_impro01_M001"
    assert raw.emotions[int(excited.labels.argmax())] == "happy"  # exc -> happy
    assert first.clip.path.endswith("Session1/dialog/avi/DivX/Ses01F_impro01.avi")
    assert (first.clip.start, first.clip.end) == (1.0, 2.5)
    assert first.clip.transcript == "Excuse me, word 0."
    words = first.clip.words
    assert words.tokens == ("excuse", "me") and words.source == "dataset"
    np.testing.assert_allclose(words.intervals, [[0.16, 0.38], [0.38, 0.66]])
    assert raw.split["sessions"] == {"train": [1, 2, 3], "valid": [4], "test": [5]}


def test_iemocap_full_labels_and_wav_media(tmp_path):
    root = write_iemocap(tmp_path / "IEMOCAP_full_release", sessions=(2,), video=False)
    raw = read_layout(root, labels="full", sessions={"train": [2]})
    assert raw.emotions == list(iemocap.FULL)
    assert [raw.emotions[int(c.labels.argmax())] for c in raw.clips] == [
        "neutral", "excited", "frustrated", "anger"
    ]  # fmt: skip
    assert raw.clips[0].clip.path.endswith("sentences/wav/Ses02F_impro01/Ses02F_impro01_F000.wav")
    assert raw.clips[0].clip.start is None


# -- CMU-MOSI / CMU-MOSEI raw ----------------------------------------------------------------------


def test_cmu_mosei_raw_segments_take_their_label_rows_by_interval(tmp_path):
    root = tmp_path / "CMU_MOSEI"
    t = root / "Transcript" / "Segmented" / "Combined"
    t.mkdir(parents=True)
    (t / "vidA.txt").write_text(
        "vidA___0___1.5___4.25___i really liked it\nvidA___1___5.0___7.5___but the end\n"
        "vidA___2___9.0___9.5___unlabelled segment\n"
    )
    (t / "vidB.txt").write_text("vidB___0___0.0___2.0___fine\n")
    v = root / "Videos" / "Segmented" / "Combined"
    v.mkdir(parents=True)
    for stem in ("vidA_0", "vidA_1", "vidB_0"):
        (v / f"{stem}.mp4").write_bytes(b"\x00")
    # All Labels: sentiment, happy, sad, anger, surprise, disgust, fear; rows out of time order
    labels = {
        "vidA": (np.array([[5.0, 7.5], [1.5, 4.25]]),
                 np.array([[-1, 0, 2, 1, 0, 0, 0], [2, 3, 0, 0, 0, 0, 0.5]], np.float32)),
        "vidB": (np.array([[0.0, 2.0]]), np.zeros((1, 7), np.float32)),
    }  # fmt: skip
    write_csd(root / "CMU_MOSEI_Labels.csd", "All Labels", labels)
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"train": ["vidA"], "valid": [], "test": ["vidB"]}))
    assert detect_layout(root).name == "cmu-raw"
    raw = read_layout(root, folds=str(folds))
    assert raw.emotions == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert [c.id for c in raw.clips] == ["vidA_0", "vidA_1", "vidB_0"]
    assert raw.clips[0].labels.tolist() == [0, 0, 0.5, 3, 0, 0]
    assert raw.clips[1].labels.tolist() == [1, 0, 0, 0, 2, 0]
    assert raw.clips[0].clip.transcript == "i really liked it"
    assert raw.clips[0].clip.path == str(v / "vidA_0.mp4")
    assert raw.meta["segments_without_label"] == 1
    assert [c.split for c in raw.clips] == ["train", "train", "test"]
    senti = read_layout(root, folds=str(folds), task="sentiment")
    assert senti.task == "sentiment" and senti.clips[1].labels.tolist() == [-1.0]


def test_cmu_mosi_raw_segments_pair_with_label_rows_in_time_order(tmp_path):
    root = tmp_path / "CMU_MOSI"
    t = root / "Transcript" / "Segmented"
    t.mkdir(parents=True)
    (t / "vidM.annotprocessed").write_text("1_DELIM_first one\n2_DELIM_second one\n")
    (root / "Video" / "Segmented").mkdir(parents=True)
    write_csd(
        root / "CMU_MOSI_Opinion_Labels.csd",
        "Opinion Segment Labels",
        {"vidM": (np.array([[3.0, 4.0], [0.5, 2.0]]), np.array([[-2.0], [1.4]], np.float32))},
    )
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"train": ["vidM"], "valid": [], "test": []}))
    raw = read_layout(root, folds=str(folds))
    assert raw.task == "sentiment" and raw.emotions == ["sentiment"]
    assert [(c.id, c.labels.tolist()) for c in raw.clips] == [
        ("vidM_1", [pytest.approx(1.4)]), ("vidM_2", [-2.0])
    ]  # fmt: skip
    assert raw.clips[0].clip.path.endswith("Video/Segmented/vidM_1.mp4")  # missing: reported later


# -- the registry --------------------------------------------------------------------------------


def test_a_layout_registered_with_one_line_is_detected_and_read(tmp_path):
    def read(path: Path) -> RawDataset:
        clip = RawClip("one", "test", Clip(str(path / "x.mp4")), np.ones(1, np.float32))
        return RawDataset("toy", ["calm"], [clip], True, source=str(path))

    toy = Layout("toy", "a folder with TOY", lambda p: 5 if (p / "TOY").exists() else 0, read)
    (tmp_path / "TOY").write_text("")
    register_layout(toy)
    try:
        assert "toy" in layout_names()
        assert detect_layout(tmp_path).name == "toy"
        assert read_layout(tmp_path).clips[0].id == "one"
    finally:
        unregister_layout("toy")


def test_an_unknown_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(DataFormatError, match="not a known raw layout"):
        detect_layout(tmp_path)
