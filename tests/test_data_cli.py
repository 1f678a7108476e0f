"""``emotrans data synth | inspect | convert``, errors without tracebacks, and the .csd hooks."""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
import types

import h5py
import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data import load
from helpers import EMB


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "mosei"
    code = main(
        ["data", "synth", "--dataset", "mosei", "--scale", "0.002", "--seed", "1",
         "--embeddings", EMB, "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    return out


def test_synth_writes_the_dataset_in_its_default_format(mosei_dir):
    assert (mosei_dir / "ey_train.h5").is_file()
    assert (mosei_dir / "oracle.npz").is_file()
    settings = json.loads((mosei_dir / "synthetic.json").read_text())
    assert settings["format"] == "mosei-h5" and settings["seed"] == 1
    assert settings["sizes"] == {"train": 33, "valid": 8, "test": 9}


def test_synth_reports_what_it_wrote(tmp_path, capsys):
    code = main(
        ["data", "synth", "--dataset", "iemocap9", "--scale", "0.002", "--embeddings", EMB,
         "--out", str(tmp_path / "nine")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "iemocap9" in out and "9 train" in out and str(tmp_path / "nine") in out


def test_inspect_prints_splits_shapes_label_counts_and_non_finite(mosei_dir, capsys):
    assert main(["data", "inspect", str(mosei_dir)]) == 0
    out = capsys.readouterr().out
    ds = load(mosei_dir)
    assert "mosei-h5" in out
    assert "train" in out and "33" in out
    assert "20 x 300" in out and "20 x 74" in out and "20 x 35" in out
    happy = next(line for line in out.splitlines() if line.startswith("happy"))
    assert happy.split()[1:] == [str(int(ds.positives(s)[3])) for s in ("train", "valid", "test")]
    total = sum(ds.nonfinite.values())
    assert f"replaced by 0: {total}" in out if total else "none" in out


def test_inspect_json_is_machine_readable(mosei_dir, capsys):
    assert main(["data", "inspect", str(mosei_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "mosei-h5"
    assert report["dims"] == {"text": 300, "audio": 74, "vision": 35}
    assert report["splits"]["valid"]["n"] == 8
    assert report["splits"]["train"]["shapes"]["audio"] == [33, 20, 74]
    assert set(report["splits"]["test"]["positives"]) == {
        "anger", "disgust", "fear", "happy", "sad", "surprise"
    }  # fmt: skip
    assert report["nonfinite_total"] == sum(report["nonfinite_replaced"].values())


def test_convert_writes_a_native_file_equal_to_the_source(mosei_dir, tmp_path, capsys):
    target = tmp_path / "mosei.h5"
    assert main(["data", "convert", str(mosei_dir), "--out", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    original, native = load(mosei_dir), load(target)
    for split in original.splits:
        for m in original.modalities:
            assert np.array_equal(original[split].features[m], native[split].features[m])
        assert np.array_equal(original[split].labels, native[split].labels)
        assert np.array_equal(original[split].intensities, native[split].intensities)


def run_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("emotrans: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_missing_path_exits_2_with_one_line(tmp_path, capsys):
    err = run_error(capsys, ["data", "inspect", str(tmp_path / "nothing")])
    assert "no such file or directory" in err


def test_missing_key_exits_2_naming_the_file(mosei_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in mosei_dir.glob("*.h5"):
        (bad / p.name).write_bytes(p.read_bytes())
    with h5py.File(bad / "video_valid.h5", "r+") as f:
        f.move("d1", "features")
    err = run_error(capsys, ["data", "inspect", str(bad)])
    assert "video_valid.h5" in err and "'d1'" in err


def test_convert_of_a_non_pickle_exits_2(tmp_path, capsys):
    (tmp_path / "iemocap_data.pkl").write_text("not a pickle")
    err = run_error(capsys, ["data", "convert", str(tmp_path), "--out", str(tmp_path / "x.h5")])
    assert "iemocap_data.pkl" in err
    assert not (tmp_path / "x.h5").exists()


def test_synth_into_a_foreign_directory_exits_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    err = run_error(
        capsys, ["data", "synth", "--embeddings", EMB, "--scale", "0.001", "--out", str(tmp_path)]
    )
    assert "not empty" in err


def test_synth_with_a_format_the_dataset_lacks_exits_2(tmp_path, capsys):
    err = run_error(
        capsys,
        ["data", "synth", "--dataset", "mosei", "--format", "iemocap9", "--embeddings", EMB,
         "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert "cannot be written as iemocap9" in err


def test_error_from_the_console_command_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "emotrans", "data", "inspect", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("emotrans: error: ") and "Traceback" not in result.stderr


# -- hooks for CMU-MultimodalSDK .csd support (emotrans.cli.data_csd) ---------------------------


@pytest.fixture
def fake_csd_module(monkeypatch):
    """A stand-in for emotrans.cli.data_csd that records how it is called."""
    calls = []
    module = types.ModuleType("emotrans.cli.data_csd")
    module.__spec__ = importlib.machinery.ModuleSpec("emotrans.cli.data_csd", None)

    def register(data_subparsers):
        p = data_subparsers.add_parser("from-csd")
        p.add_argument("paths", nargs="+")
        p.set_defaults(func=lambda args: calls.append(("from-csd", args.paths)) or 0)

    def inspect_command(args):
        calls.append(("inspect", args.path))
        return 0

    module.register = register
    module.inspect_command = inspect_command
    monkeypatch.setitem(sys.modules, "emotrans.cli.data_csd", module)
    return calls


def test_csd_module_registers_its_own_actions(fake_csd_module):
    assert main(["data", "from-csd", "a.csd", "b.csd"]) == 0
    assert fake_csd_module == [("from-csd", ["a.csd", "b.csd"])]


def test_inspect_of_a_csd_file_is_delegated(fake_csd_module):
    assert main(["data", "inspect", "CMU_MOSEI_COVAREP.csd"]) == 0
    assert fake_csd_module == [("inspect", "CMU_MOSEI_COVAREP.csd")]


def test_inspect_of_a_csd_file_without_csd_support_is_a_clear_error(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "emotrans.cli.data_csd" else real(name, *a),
    )
    err = run_error(capsys, ["data", "inspect", "labels.csd"])
    assert "labels.csd" in err and "data_csd" in err
