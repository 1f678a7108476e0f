"""The raw releases end to end through the CLI: `emotrans extract` on a MELD.Raw folder and on an
IEMOCAP full-release folder (in their real layouts, with fake media read by the fake
extractors of tests/fake_media.py), then `emotrans train` on the dataset's own emotions,
`emotrans predict` for names never trained on, and zero-shot on an emotion held out of IEMOCAP.
The real extractors on real media are covered by tests/test_extract_e2e.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emotrans.cli import main
from emotrans.data.formats.native import load_native
from emotrans.media.layouts import iemocap, meld
from fake_media import TIMING, register, write_clip

FAKE = ["--audio", "fake-audio", "--vision", "fake-vision", "--text", "fake-text"]
TINY_TRAIN = ["--epochs", "3", "--embeddings", "random:0:16", "--batch-size", "8",
              "--hidden-audio", "4", "--hidden-vision", "4", "--seed", "0"]  # fmt: skip
MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
               "Utterance_ID", "Season", "Episode", "StartTime", "EndTime"]  # fmt: skip
MELD_FOLDERS = {"train": "train_splits", "dev": "dev_splits_complete",
                "test": "output_repeated_splits_test"}  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fakes():
    register()


def _write_meld(root: Path, per_emotion: dict[str, int]) -> Path:
    """MELD.Raw with ``per_emotion[split]`` utterances of every emotion; a clip's fake signal is
    its emotion's index, so the labels can be learned."""
    for split, n in per_emotion.items():
        rows = []
        for k, emotion in enumerate(meld.EMOTIONS):
            for u in range(n):
                dia, utt = k, u
                rows.append([len(rows) + 1, f"I feel it number {u}", "Rachel", emotion,
                             "neutral", dia, utt, 1, 1, "00:00:01,000", "00:00:03,000"])  # fmt: skip
                write_clip(
                    root / MELD_FOLDERS[split] / f"dia{dia}_utt{utt}.mp4",
                    value=k / (len(meld.EMOTIONS) - 1),
                )
        with (root / f"{split}_sent_emo.csv").open("w", newline="") as f:
            csv.writer(f).writerows([MELD_HEADER, *rows])
    return root


def _write_iemocap(root: Path, per_code: int = 3) -> Path:
    """IEMOCAP_full_release, sessions 1-5, utterance wavs (fake media), EmoEvaluation,
    transcriptions and ForcedAlignment word files in the release's formats."""
    codes = ["neu", "hap", "exc", "sad", "ang"]
    signal = {"neu": 0.0, "hap": 0.33, "exc": 0.33, "sad": 0.66, "ang": 1.0}
    for n in range(1, 6):
        s = root / f"Session{n}"
        dialog = f"Ses0{n}F_impro01"
        evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        transcript = []
        i = 0
        for code in codes:
            for _ in range(per_code):
                utt = f"{dialog}_{'FM'[i % 2]}{i:03d}"
                start, end = 2.0 * i + 1, 2.0 * i + 2.5
                evaluation += [f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[2.5, 3.0, 3.0]", ""]
                transcript.append(f"{utt} [{start:08.4f}-{end:08.4f}]: excuse me please.")
                write_clip(s / "sentences" / "wav" / dialog / f"{utt}.wav", value=signal[code])
                wdseg = s / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"
                wdseg.parent.mkdir(parents=True, exist_ok=True)
                wdseg.write_text(
                    "\tSFrm\tEFrm\tSegAScr Word\n\t0\t15\t-18331 <s>\n\t16\t37\t-16859 EXCUSE\n"
                    "\t38\t65\t-32539 ME\n\t66\t90\t-3000 PLEASE\n\t91\t110\t-57809 </s>\n"
                    " Total score:   -125539\n"
                )
                i += 1
        (s / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (s / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evaluation))
        (s / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (s / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(transcript))
    return root


def _predict_unseen(run: Path, data: Path, out: Path) -> list[dict]:
    assert main(["predict", str(run), "--input", str(data), "--emotions",
                 "bored,proud,anger", "--out", str(out)]) == 0  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        assert all(0.0 < float(row[e]) < 1.0 for e in ("bored", "proud", "anger"))
    return rows


def test_meld_raw_extracts_trains_on_its_seven_emotions_and_scores_new_names(tmp_path):
    root = _write_meld(tmp_path / "MELD.Raw", {"train": 4, "dev": 2, "test": 2})
    data = tmp_path / "meld.h5"
    assert main(["extract", str(root), "--out", str(data), *FAKE, "--timing", TIMING,
                 "--seq-len", "6", "--quiet"]) == 0  # fmt: skip
    ds = load_native(data)
    assert ds.emotions == list(meld.EMOTIONS)
    assert {s: ds[s].n for s in ds.splits} == {"train": 28, "valid": 14, "test": 14}
    assert (ds["train"].labels.sum(1) == 1).all()  # one emotion per utterance
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY_TRAIN]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["emotions"] == list(meld.EMOTIONS)
    assert set(metrics["splits"]["test"]["per_emotion"]) == set(meld.EMOTIONS)
    assert len(_predict_unseen(run, data, tmp_path / "p.csv")) == 14


def test_iemocap_release_extracts_with_its_word_timing_trains_and_holds_an_emotion_out(tmp_path):
    root = _write_iemocap(tmp_path / "IEMOCAP_full_release")
    data = tmp_path / "iemocap.h5"
    assert main(["extract", str(root), "--out", str(data), *FAKE, "--seq-len", "4",
                 "--quiet"]) == 0  # fmt: skip
    ds = load_native(data)
    assert ds.emotions == list(iemocap.FOUR_CLASS)
    assert {s: ds[s].n for s in ds.splits} == {"train": 45, "valid": 15, "test": 15}
    assert set(ds.extraction["timing"]["by_clip"].values()) == {"dataset"}  # the .wdseg files
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY_TRAIN]) == 0
    assert len(_predict_unseen(run, data, tmp_path / "p.csv")) == 15
    zsl = tmp_path / "zsl"
    assert main(["train", "--data", str(data), "--out", str(zsl), "--zsl", "sad",
                 *TINY_TRAIN]) == 0  # fmt: skip
    unseen = json.loads((zsl / "metrics.json").read_text())["zsl"]
    assert unseen["unseen"] == ["sad"] and "sad" in unseen["unseen_metrics"]["per_emotion"]
