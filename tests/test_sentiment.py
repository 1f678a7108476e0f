"""The sentiment task: datasets that declare it, its metrics, every model trained on it through
the CLI, CMU-MOSI-shaped ``.csd`` files converted to it (docs/design.md, "Metrics")."""

from __future__ import annotations

import json
import logging
import math

import h5py
import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score

from emotrans.cli import main
from emotrans.data import load, save_native
from emotrans.data.csd import write_csd
from emotrans.data.csd_align import convert_csd
from emotrans.data.synthetic import generate, write_synthetic
from emotrans.errors import DataFormatError
from emotrans.metrics import SENTIMENT_KEYS, compute_sentiment_metrics, pearson
from helpers import EMB

# -- metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sentiment_metrics_equal_scipy_and_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = np.round(rng.uniform(-3, 3, 300) * 3) / 3  # thirds, as CMU-MOSI's averages
    truth[rng.random(300) < 0.15] = 0.0
    pred = truth + rng.normal(0, 1.2, 300)
    pred[:5] = 0.0
    m = compute_sentiment_metrics(truth, pred)["sentiment"]
    assert m["mae"] == pytest.approx(np.abs(truth - pred).mean())
    assert m["corr"] == pytest.approx(pearsonr(truth, pred)[0])
    seven = accuracy_score(np.clip(np.round(truth), -3, 3), np.clip(np.round(pred), -3, 3))
    assert m["acc7"] == pytest.approx(seven)
    assert m["acc2_nonneg"] == pytest.approx(accuracy_score(truth >= 0, pred >= 0))
    assert m["f1_nonneg"] == pytest.approx(f1_score(truth >= 0, pred >= 0, average="weighted"))
    nz = truth != 0
    assert m["acc2_nonzero"] == pytest.approx(accuracy_score(truth[nz] > 0, pred[nz] > 0))
    assert m["f1_nonzero"] == pytest.approx(
        f1_score(truth[nz] > 0, pred[nz] > 0, average="weighted")
    )


def test_zero_counts_as_non_negative_in_one_convention_and_is_left_out_in_the_other():
    truth = np.array([0.0, 0.0, -1.0, 2.0])
    pred = np.array([0.0, -0.5, -2.0, 0.0])
    out = compute_sentiment_metrics(truth, pred)
    m = out["sentiment"]
    # neg/non-neg: truth [T, T, F, T], pred [T, F, F, T] -> 3 of 4 right
    assert m["acc2_nonneg"] == 0.75
    # neg/pos without the two zero-labelled samples: truth [F, T], pred [F, F] (0 is not > 0)
    assert m["acc2_nonzero"] == 0.5
    assert out["n"] == 4 and out["n_nonzero"] == 2
    assert set(out["conventions"]) == {"nonneg", "nonzero"}
    # Acc-7 rounds half to even (np.round) and clips: 2.5 -> 2, -3.6 -> -4 -> -3
    assert compute_sentiment_metrics([2.0, -3.0], [2.5, -3.6])["sentiment"]["acc7"] == 1.0


def test_constant_predictions_give_a_nan_correlation_with_a_warning_never_an_error(caplog):
    with caplog.at_level(logging.WARNING, logger="emotrans.metrics"):
        m = compute_sentiment_metrics([1.0, -2.0, 0.5], [0.3, 0.3, 0.3])["sentiment"]
    assert math.isnan(m["corr"])
    assert "constant" in caplog.text
    assert m["mae"] == pytest.approx((0.7 + 2.3 + 0.2) / 3)
    assert math.isnan(pearson([1.0], [2.0]))


def test_only_zero_labels_leave_the_non_zero_convention_undefined():
    m = compute_sentiment_metrics([0.0, 0.0], [1.0, -1.0])["sentiment"]
    assert math.isnan(m["acc2_nonzero"]) and math.isnan(m["f1_nonzero"])
    assert m["acc2_nonneg"] == 0.5
    assert list(m) == list(SENTIMENT_KEYS)


# -- datasets declare their task ---------------------------------------------------------------


def test_mult_sentiment_pickles_and_native_files_carry_the_task(tmp_path):
    write_synthetic(tmp_path / "senti", dataset="mosei-senti", scale=0.002, embeddings=EMB)
    ds = load(tmp_path / "senti")
    assert ds.task == "sentiment" and ds.emotions == ["sentiment"]
    train = ds["train"]
    assert np.array_equal(train.labels[:, 0], (train.intensities[:, 0] > 0).astype(np.uint8))
    native = save_native(ds, tmp_path / "senti.h5")
    assert load(native).task == "sentiment"


def test_a_native_file_written_before_the_task_existed_is_an_emotion_dataset(tmp_path):
    ds, _ = generate("mosei", scale=0.002, seed=0, embeddings=EMB)
    for split in ds.splits.values():
        split.features["audio"][~np.isfinite(split.features["audio"])] = 0
    path = save_native(ds, tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:
        manifest = json.loads(f.attrs["manifest"])
        del manifest["task"]
        f.attrs["manifest"] = json.dumps(manifest)
    assert load(path).task == "emotion"


def test_inspect_names_the_task_and_the_scores(tmp_path, capsys):
    write_synthetic(tmp_path / "mosi", dataset="mosi", scale=0.02, embeddings=EMB)
    assert main(["data", "inspect", str(tmp_path / "mosi")]) == 0
    out = capsys.readouterr().out
    assert "task sentiment" in out and "score" in out


def test_the_generated_mosi_set_has_the_usual_split_sizes_and_a_planted_score():
    ds, _ = generate("mosi", scale=1.0, seed=0, embeddings=EMB)
    assert {k: s.n for k, s in ds.splits.items()} == {"train": 1284, "valid": 229, "test": 686}
    assert ds.task == "sentiment" and ds["train"].features["text"].shape[1] == 50
    # the score is a function of the features: least squares on mean text features finds it
    x = {k: s.features["text"].sum(1) / np.maximum(s.lengths["text"], 1)[:, None] for k, s in
         ds.splits.items()}  # fmt: skip
    coef, *_ = np.linalg.lstsq(x["train"], ds["train"].intensities[:, 0], rcond=None)
    r = pearsonr(x["test"] @ coef, ds["test"].intensities[:, 0])[0]
    assert r > 0.6


# -- every model trains on it ------------------------------------------------------------------

SMALL = ["--embeddings", "random:0:128", "--epochs", "5", "--batch-size", "32",
         "--threads", "1"]  # fmt: skip
RNN = ["--hidden-audio", "8", "--hidden-vision", "8"]
MODEL_FLAGS = {
    "transferable": RNN,  # text hidden = the embedding dimension, 128
    "lf-lstm": [*RNN, "--hidden-text", "128"],
    "ef-lstm": ["--ef-hidden", "128"],
    "mult": ["--mult-dim", "32", "--mult-heads", "4", "--mult-layers", "2"],
}
"""Small sizes per model (a setting of another model is an error)."""


@pytest.fixture(scope="module")
def mosi(tmp_path_factory):
    out = tmp_path_factory.mktemp("mosi") / "mosi"
    write_synthetic(out, dataset="mosi", scale=0.25, seed=0, embeddings=EMB)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transferable", "ef-lstm", "lf-lstm", "mult"])
def test_every_model_learns_the_sentiment_score_through_the_cli(mosi, tmp_path, model, capsys):
    run = tmp_path / model
    argv = ["train", "--data", str(mosi), "--model", model, "--out", str(run), *SMALL,
            *MODEL_FLAGS[model]]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "MAE" in printed and "Acc-2 (neg/non-neg)" in printed and "non-zero" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "sentiment" and metrics["select_metric"] == "mae"
    test = metrics["splits"]["test"]["sentiment"]
    ds = load(mosi)
    train, truth = ds["train"].intensities[:, 0], ds["test"].intensities[:, 0]
    constant = np.abs(truth - np.median(train)).mean()  # the best constant under L1
    # at least 10% below the best constant (MulT, data-hungry, reaches 14% in 5 epochs here)
    assert test["mae"] < 0.9 * constant
    assert test["corr"] > 0.3
    assert "Pearson r" in (run / "report.md").read_text()
    # the best epoch is the one with the lowest validation MAE
    rows = (run / "history.csv").read_text().splitlines()
    column = rows[0].split(",").index("valid_mae")
    maes = [float(r.split(",")[column]) for r in rows[1:]]
    assert metrics["best_epoch"] == int(np.argmin(maes)) + 1
    # evaluate recomputes the stored metrics
    assert main(["evaluate", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["sentiment"] == pytest.approx(test)


@pytest.mark.slow
def test_the_recognizer_predicts_scores_and_mse_is_an_option(mosi, tmp_path):
    import emotrans

    rec = emotrans.train(
        data=str(mosi), model="lf-lstm", sentiment_loss="mse", embeddings=EMB, epochs=2,
        layers=1, hidden_text=16, hidden_audio=8, hidden_vision=8, threads=1,
    )  # fmt: skip
    assert rec.task == "sentiment" and rec.config.sentiment_loss == "mse"
    frame = rec.predict(load(mosi))
    assert list(frame.columns) == ["id", "sentiment", "predicted"]
    assert set(frame["predicted"]) <= {"positive", "negative", "neutral"}
    rec.save(tmp_path / "run")
    again = emotrans.Recognizer.load(tmp_path / "run").predict(load(mosi))
    assert np.allclose(again["sentiment"], frame["sentiment"])


@pytest.mark.parametrize("flags", [["--zsl", "sentiment"], ["--fsl", "sentiment"]])
def test_zero_and_few_shot_on_a_sentiment_dataset_are_one_line_errors(
    mosi, tmp_path, flags, capsys
):
    argv = ["train", "--data", str(mosi), "--out", str(tmp_path / "r"), *SMALL, *RNN, *flags]
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "emotion protocols" in errors[0]


def test_an_emotion_selection_metric_on_sentiment_data_is_an_error(mosi, tmp_path, capsys):
    argv = ["train", "--data", str(mosi), "--out", str(tmp_path / "r"), *SMALL, *RNN]
    assert main([*argv, "--select-metric", "wacc"]) == 2
    assert "sentiment dataset is selected on" in capsys.readouterr().err


def test_the_transferable_model_embeds_the_poles_or_nothing_for_sentiment():
    from emotrans.models.transferable import TransferableModel, TransferableSettings

    poles = TransferableSettings()
    assert TransferableModel.embedding_names(poles, ["sentiment"], "sentiment") == [
        "positive",
        "negative",
    ]
    mine = TransferableSettings(sentiment_positive="good", sentiment_negative="bad")
    assert TransferableModel.embedding_names(mine, ["sentiment"], "sentiment") == ["good", "bad"]
    assert TransferableModel.embedding_names(poles, ["anger"], "emotion") == ["anger"]


# -- CMU-MOSI-shaped .csd files ----------------------------------------------------------------


def _mosi_csd(folder, videos=12, segments=4, words=6):
    """Words, audio and vision .csd of ``videos`` videos and a 1-column opinion label file;
    each segment's features carry its sentiment."""
    rng = np.random.default_rng(0)
    text, audio, vision, labels = {}, {}, {}, {}
    for v in range(videos):
        vid = f"vid{v:02d}"
        scores = np.round(rng.uniform(-3, 3, segments) * 3) / 3
        scores[0] = 0.0
        n = segments * words
        starts = np.arange(n, dtype=np.float64)
        iv = np.stack([starts, starts + 1], 1)
        per_word = np.repeat(scores, words)[:, None]  # (n, 1)
        text[vid] = (iv, (per_word + rng.normal(0, 0.3, (n, 5))).astype(np.float32))
        audio[vid] = (iv, (per_word + rng.normal(0, 0.5, (n, 3))).astype(np.float32))
        vision[vid] = (iv, rng.normal(0, 1, (n, 2)).astype(np.float32))
        seg = np.stack([np.arange(segments) * words, (np.arange(segments) + 1) * words], 1)
        labels[vid] = (seg.astype(np.float64), scores[:, None].astype(np.float32))
    paths = {
        "text": write_csd(folder / "CMU_MOSI_TimestampedWordVectors.csd", "glove_vectors", text),
        "audio": write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", audio),
        "vision": write_csd(folder / "CMU_MOSI_Visual_Facet_42.csd", "FACET_4.2", vision),
        "labels": write_csd(folder / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels",
                            labels),
    }  # fmt: skip
    folds = folder / "folds.json"
    ids = sorted(text)
    folds.write_text(json.dumps({"train": ids[:8], "valid": ids[8:10], "test": ids[10:]}))
    paths["folds"] = folds
    return paths


def test_a_one_column_label_file_converts_to_sentiment_and_refuses_emotions(tmp_path):
    p = _mosi_csd(tmp_path)
    kw = dict(audio=p["audio"], vision=p["vision"], seq_len=6)
    result = convert_csd(p["text"], p["labels"], p["folds"], **kw)
    ds = result.dataset
    assert ds.task == "sentiment" and ds.name == "mosi" and ds.emotions == ["sentiment"]
    assert {k: s.n for k, s in ds.splits.items()} == {"train": 32, "valid": 8, "test": 8}
    assert np.array_equal(ds["train"].intensities[:, 0], result.sentiment["train"])
    assert (ds["train"].intensities[:, 0] == 0).sum() >= 8  # a zero-labelled segment per video
    with pytest.raises(DataFormatError) as info:
        convert_csd(p["text"], p["labels"], p["folds"], task="emotion", **kw)
    assert "\n" not in str(info.value) and "--task sentiment" in str(info.value)


def test_mosei_all_labels_give_the_sentiment_column_on_request(tmp_path):
    w = np.stack([np.arange(4.0), np.arange(4.0) + 1], 1)
    f = np.ones((4, 2), np.float32)
    rows = np.array([[1.5, 1, 0, 0, 0, 0, 0], [-2.0, 0, 1, 0, 0, 0, 0]], np.float32)
    seg = (np.array([[0.0, 2.0], [2.0, 4.0]]), rows)
    text = write_csd(tmp_path / "w.csd", "glove_vectors", {v: (w, f) for v in "abc"})
    labels = write_csd(tmp_path / "l.csd", "All Labels", dict.fromkeys("abc", seg))
    folds = {"train": ["a"], "valid": ["b"], "test": ["c"]}
    emotion = convert_csd(text, labels, folds, seq_len=4).dataset
    assert emotion.task == "emotion" and len(emotion.emotions) == 6
    senti = convert_csd(text, labels, folds, seq_len=4, task="sentiment").dataset
    assert senti.task == "sentiment" and senti.name == "mosei-senti"
    assert senti["train"].intensities[:, 0].tolist() == [1.5, -2.0]
    assert senti["train"].labels[:, 0].tolist() == [1, 0]


@pytest.mark.slow
def test_a_mosi_shaped_csd_set_converts_and_trains_through_the_cli(tmp_path, capsys):
    p = _mosi_csd(tmp_path, videos=20)
    ids = sorted(f"vid{v:02d}" for v in range(20))
    p["folds"].write_text(json.dumps({"train": ids[:12], "valid": ids[12:16], "test": ids[16:]}))
    out = tmp_path / "mosi.h5"
    argv = ["data", "from-csd", "--text", str(p["text"]), "--audio", str(p["audio"]),
            "--vision", str(p["vision"]), "--labels", str(p["labels"]), "--folds",
            str(p["folds"]), "--seq-len", "6", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert main([*argv[:-2], "--task", "emotion", "--out", str(tmp_path / "x.h5")]) == 2
    assert "--task sentiment" in capsys.readouterr().err
    folder = tmp_path / "converted"
    folder.mkdir()
    assert main([*argv[:-1], str(folder)]) == 0  # a folder: the file is named after the data
    assert [f.name for f in folder.iterdir()] == ["mosi.h5"]
    run = tmp_path / "run"
    assert main(["train", "--data", str(out), "--model", "lf-lstm", "--out", str(run), *SMALL,
                 *MODEL_FLAGS["lf-lstm"], "--epochs", "30", "--lr", "1e-2"]) == 0  # fmt: skip
    test = json.loads((run / "metrics.json").read_text())["splits"]["test"]
    assert test["n"] == 16 and test["n_nonzero"] == 12
    truth = load(out)["test"].intensities[:, 0]
    assert test["sentiment"]["mae"] < np.abs(truth - np.median(truth)).mean()


# -- grids and reports -------------------------------------------------------------------------


def test_the_shipped_sentiment_grid_runs_the_four_models_on_tav():
    from emotrans.experiments.grid import load_grid

    cells = load_grid("main-mosi").cells
    assert sorted(c.name for c in cells) == [
        "ef-lstm-tav",
        "lf-lstm-tav",
        "mult-tav",
        "transferable-tav",
    ]


def test_grid_reports_aggregate_the_sentiment_metrics_with_named_conventions(tmp_path):
    from emotrans.experiments.aggregate import CellResult, GridResults, _fill, long_rows
    from emotrans.experiments.report import main_tables, render_md_table

    cell = CellResult(name="lf-lstm-tav", expected=2)
    for seed, mae in ((0, 1.0), (1, 0.8)):
        split = compute_sentiment_metrics([1.0, -1.0, 0.0, 2.0], [mae, -0.5, 0.2, 1.0])
        metrics = {"task": "sentiment", "model": "lf-lstm", "splits": {"test": split}}
        _fill(cell, tmp_path / str(seed), seed, metrics)
    results = GridResults(folder=tmp_path, name="g", cells=[cell])
    assert cell.protocol == "sentiment"
    tables = dict(main_tables(results))
    text = render_md_table(tables["sentiment"])
    assert "Acc-2 (neg/non-neg)" in text and "Acc-2 (neg/pos, non-zero)" in text
    rows = [r for r in long_rows(results) if r["section"] == "sentiment"]
    assert {r["metric"] for r in rows} == set(SENTIMENT_KEYS)
