"""`emotrans train / evaluate / predict / models` end to end through the CLI (seconds)."""

from __future__ import annotations

import csv
import json

import pytest

from emotrans.cli import main
from helpers import EMB, TINY_FLAGS

TINY = TINY_FLAGS


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "mosei"
    assert (
        main(
            [
                "data",
                "synth",
                "--dataset",
                "mosei",
                "--format",
                "mosei-h5",
                "--scale",
                "0.01",
                "--embeddings",
                EMB,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--quiet", *TINY]) == 0
    return out


def test_train_prints_the_table_and_writes_the_run(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "Test metrics" in printed and "| anger |" in printed and str(out) in printed
    assert (out / "metrics.json").is_file()


def test_train_reads_a_config_file_and_flags_win(data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"data: {data}\nembeddings: '{EMB}'\nepochs: 1\nbatch_size: 16\nlayers: 1\n"
        "hidden_audio: 8\nhidden_vision: 4\nmodalities: tv\n"
    )
    out = tmp_path / "run"
    assert (
        main(["train", "--config", str(cfg), "--modalities", "t", "--out", str(out), "--quiet"])
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["modalities"] == "t" and saved["batch_size"] == 16


def test_evaluate_prints_the_stored_metrics(run, capsys):
    assert main(["evaluate", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    stored = json.loads((run / "metrics.json").read_text())["splits"]["test"]
    assert again["average"] == pytest.approx(stored["average"])


def test_evaluate_other_emotions(run, capsys):
    assert main(["evaluate", str(run), "--emotions", "sad,anger"]) == 0
    out = capsys.readouterr().out
    assert "| sad |" in out and "| anger |" in out and "| fear |" not in out


def test_predict_writes_a_csv_with_new_emotion_names(run, data, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                str(run),
                "--input",
                str(data),
                "--emotions",
                "anger,boredom,pride",
                "--threshold",
                "0.4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["id", "anger", "boredom", "pride", "predicted", "ranking"]
    for row in rows:
        chosen = [n for n in ("anger", "boredom", "pride") if float(row[n]) > 0.4]
        assert row["predicted"] == (";".join(chosen) if chosen else "")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--data", "/no/such/dir", "--out", "{tmp}/r"], "/no/such/dir"),
        (["train", "--data", "{data}", "--out", "{tmp}/r", "--pooling", "max"], None),
        (["evaluate", "{tmp}/missing"], "no such run directory"),
        (
            ["predict", "{run}", "--input", "{data}", "--emotions", "a,a", "--out", "{tmp}/p.csv"],
            "duplicate",
        ),
        (
            ["train", "--data", "{data}", "--out", "{tmp}/r", "--zsl", "anger", "--fsl", "fear"],
            "not both",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, data, run, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, data=data, run=run) for a in argv]
    if message is None:  # argparse rejects an invalid choice itself (exit 2)
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("emotrans: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "p.csv").exists()


def test_models_lists_every_model_with_parameters(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["transferable", "ef-lstm", "lf-lstm", "mult"]
    assert all(r["parameters"] > 0 and r["description"] for r in rows)
