"""Bad input from a careless or hostile user: every case is one line on stderr and exit 2.

The classes of issue #17, one explicit regression test each: settings out of range (flags and
config files), output paths that are not regular files, leftovers of killed commands, the grid
lock, closed pipes and failed writes.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emotrans.cli import main
from emotrans.config import RunConfig
from emotrans.errors import ConfigError
from helpers import EMB, TINY_FLAGS, one_line_error, write_mosei

TINY = [*TINY_FLAGS, "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_mosei(tmp_path_factory.mktemp("d") / "mosei", scale=0.005)


# -- settings ------------------------------------------------------------------------------

BAD_SETTINGS = [
    (["--dropout", "5"], "dropout", "in [0, 1]"),
    (["--weight-decay", "-1"], "weight_decay", ">= 0"),
    (["--plateau-factor", "2"], "plateau_factor", "in (0, 1)"),
    (["--lr", "nan"], "lr", "positive"),
    (["--lr", "inf"], "lr", "positive"),
    (["--seed", str(10**23)], "seed", "in [0, 4294967295]"),
    (["--hidden-text", "-5"], "hidden_text", ">= 0"),
    (["--device", "nonsense"], "device", "cpu"),
    (["--fsl-shots", "-1"], "fsl_shots", ">= 0"),
    (["--clip", "nan"], "clip", ">= 0"),
    (["--early-stop", "-1"], "early_stop", "positive"),
    (["--early-stop", "0"], "early_stop", "positive"),
    (["--plateau-patience", "-1"], "plateau_patience", ">= 0"),
    (["--threads", "-1"], "threads", ">= 0"),
    (["--fsl-lr", "0"], "fsl_lr", "positive"),
    (["--fsl-epochs", "0"], "fsl_epochs", "positive"),
    (["--epochs", "abc"], "epochs", "positive"),
    (["--emotions", "anger,anger"], "emotions", "more than once"),
    (["--zsl", "fear,fear"], "zsl", "more than once"),
]


@pytest.mark.parametrize(("flags", "name", "valid"), BAD_SETTINGS, ids=lambda v: str(v))
def test_a_bad_setting_is_refused_naming_the_setting_and_its_range(
    flags, name, valid, data, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY, *flags]
    err = one_line_error(capsys, argv)
    assert name in err and valid in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cuda_on_a_machine_without_it_is_refused_before_the_data_is_read(
    tmp_path, capsys, monkeypatch
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "no-such-data"), "--out", str(out), *TINY]
    err = one_line_error(capsys, [*argv, "--device", "cuda"])
    assert "no CUDA device" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: abc\n", "epochs = 'abc' is not a valid int; must be positive"),
        ("epochs: 1.5\n", "epochs = 1.5 is not a valid int"),
        ("epochs: true\n", "epochs = True is not a valid int"),
        ("lr: .nan\n", "lr = nan: must be positive"),
        ("dropout: 5\n", "dropout"),
        ("epoch: 3\n", "unknown setting 'epoch'"),
        ("- 1\n- 2\n", "expected a mapping of settings"),
    ],
)
def test_a_config_file_is_checked_with_the_same_rules_even_when_a_flag_overrides(
    text, message, data, tmp_path, capsys
):
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    argv = ["train", "--config", str(cfg), "--data", str(data), "--out", str(out), *TINY]
    err = one_line_error(capsys, argv)  # TINY gives --epochs 1: the file is still checked
    assert message in err and str(cfg) in err


def test_the_dataclass_refuses_non_finite_and_out_of_range_values():
    for values in ({"lr": float("nan")}, {"clip": float("inf")}, {"seed": -1}, {"epochs": 0}):
        with pytest.raises(ConfigError):
            RunConfig(**values)
    with pytest.raises(ConfigError, match="run.json: seed"):
        RunConfig.from_dict({"seed": 2**40}, where="run.json")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "from-csd", "--seq-len", str(10**9)], "--seq-len 1000000000: must be in [1,"),
        (["data", "from-csd", "--eps", "nan"], "--eps nan: must be >= 0"),
        (["data", "from-csd", "--workers", "-1"], "--workers -1: must be in [0, 1024]"),
        (["data", "synth", "--scale", "-1"], "--scale -1: must be in (0, 1000]"),
        (["data", "synth", "--seed", "x"], "--seed 'x': not a valid int"),
        (["reproduce", "main-mosei", "--jobs", "0"], "--jobs 0: must be in [1, 1024]"),
    ],
)
def test_numeric_flags_of_other_commands_are_range_checked_while_parsing(
    argv, message, tmp_path, capsys
):
    err = one_line_error(capsys, [*argv, "--out", str(tmp_path / "out")])
    assert message in err
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


# -- the command's error handling ----------------------------------------------------------


def test_an_oserror_on_output_is_one_line_naming_the_path(capsys, monkeypatch):
    import emotrans.cli.data as data_cli

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/big/out.h5")

    monkeypatch.setattr(data_cli, "_synth", full_disk)
    err = one_line_error(capsys, ["data", "synth", "--out", "/big/out"])
    assert err == "emotrans: error: /big/out.h5: No space left on device"


def test_a_closed_output_pipe_ends_quietly(data):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emotrans", "data", "inspect", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # as `| head -1` does once it has its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode in (0, 141)


def test_sigterm_is_an_interrupt_and_leaves_no_partial_folder(data, tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY, "--epochs", "500"]
    argv += ["--early-stop", "500"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emotrans", *argv], stderr=subprocess.PIPE, cwd=tmp_path
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _staging(tmp_path):
        time.sleep(0.05)
    assert _staging(tmp_path), "the run never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 130, proc.stderr.read().decode()
    assert [p.name for p in tmp_path.iterdir()] == []


def _staging(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".partial")]


def _json(path: Path):
    return json.loads(path.read_text())


# -- resume mid-training -------------------------------------------------------------------

RESUMABLE = [*TINY, "--epochs", "5", "--early-stop", "50", "--seed", "3"]


def _train_process(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "emotrans", "train", "--data", str(data), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*argv, *RESUMABLE, *extra], stderr=subprocess.PIPE, env=env)


def _metrics(run: Path) -> dict:
    metrics = _json(run / "metrics.json")
    metrics.pop("seconds")
    return metrics


def test_a_run_killed_mid_training_resumes_to_the_same_metrics(data, tmp_path):
    import signal
    import time

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = _train_process(data, whole)
    victim = _train_process(data, killed)
    history = tmp_path / ".killed.partial" / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and victim.poll() is None:
        if history.is_file() and len(history.read_text().splitlines()) >= 3:  # header + 2
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)  # somewhere in epoch 3, after epoch 2's checkpoint
    victim.wait()
    assert not killed.exists() and (tmp_path / ".killed.partial" / "checkpoint.pt").is_file()

    again = _train_process(data, killed)
    assert again.wait(timeout=300) != 0  # without --resume the staged run is not thrown away
    assert "--resume" in again.stderr.read().decode()

    resumed = _train_process(data, killed, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()
    assert _metrics(killed) == _metrics(whole)
    rows = [r.split(",")[:4] for r in (killed / "history.csv").read_text().splitlines()]
    assert rows == [r.split(",")[:4] for r in (whole / "history.csv").read_text().splitlines()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "whole"]
    assert not (killed / "checkpoint.pt").exists()


def test_resuming_with_other_settings_is_refused(data, tmp_path, capsys):
    from emotrans.config import RunConfig
    from emotrans.training.checkpoint import Checkpoint

    stage = tmp_path / ".run.partial"
    stage.mkdir()
    Checkpoint(stage, RunConfig(seed=1))
    (stage / "checkpoint.pt").write_bytes(b"")  # an epoch was saved
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--resume"]
    err = one_line_error(capsys, argv)
    assert "other settings" in err and "seed" in err


# -- writes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: Path("/dev/null"), "is a device"),
        (lambda d: (d / "file").write_text("x") and d / "file" / "below.h5", "is a regular file"),
    ],
    ids=["device", "below-a-file"],
)
def test_outputs_replace_only_regular_files(make, expected, data, tmp_path, capsys):
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    err = one_line_error(capsys, ["data", "convert", str(data), "--out", str(out)])
    assert expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert Path("/dev/null").is_char_device()


def test_an_atomic_write_never_replaces_a_directory(tmp_path):
    from emotrans.atomic import write_text_atomic

    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        write_text_atomic(tmp_path / "folder", "text")
    assert (tmp_path / "folder").is_dir() and [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_a_run_directory_cannot_be_a_device_or_a_file(data, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in ("/dev/null", str(tmp_path / "file"), str(tmp_path / "file" / "run")):
        argv = ["train", "--data", str(data), "--out", out, *TINY]
        one_line_error(capsys, argv)
    assert (tmp_path / "file").read_text() == "x"


def test_leftovers_of_killed_commands_are_removed_by_the_next_writer(data, tmp_path):
    from emotrans.atomic import write_text_atomic

    dead = tmp_path / ".out.json.myhost-1.abc.tmp"
    dead = tmp_path / f".out.json.{__import__('socket').gethostname()}-999999999.abc.tmp"
    dead.write_text("half")
    alive = tmp_path / f".out.json.{__import__('socket').gethostname()}-{os.getpid()}.xyz.tmp"
    alive.write_text("being written")
    write_text_atomic(tmp_path / "out.json", "{}")
    assert not dead.exists() and alive.exists()

    stale_stage = tmp_path / ".synth.k1ll3d.tmp"  # `data synth` killed mid-write
    stale_stage.mkdir()
    (stale_stage / "text_train_emb.h5").write_bytes(b"half")
    assert main(["data", "synth", "--scale", "0.005", "--embeddings", EMB, "--out",
                 str(tmp_path / "synth")]) == 0  # fmt: skip
    assert not stale_stage.exists()


def test_a_relative_data_path_is_stored_absolute(data, tmp_path, monkeypatch):
    monkeypatch.chdir(data.parent)
    out = tmp_path / "run"
    assert main(["train", "--data", data.name, "--out", str(out), *TINY]) == 0
    assert _json(out / "config.json")["data"] == str(data)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(out), "--json"]) == 0


def test_a_data_folder_whose_name_is_not_utf8_trains_and_evaluates(data, tmp_path):
    import os
    import shutil

    odd = tmp_path / os.fsdecode(b"\xffdata")  # bytes no UTF-8 decoder accepts
    shutil.copytree(data, odd)
    out = tmp_path / "run"
    assert main(["train", "--data", str(odd), "--out", str(out), *TINY]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")  # still UTF-8
    assert "\\udcffdata" in report
    assert _json(out / "config.json")["data"] == str(odd)  # the same path back
    assert main(["evaluate", str(out), "--json"]) == 0


def test_the_grid_lock_has_one_holder_among_competing_processes(tmp_path):
    script = """
import os, sys, time
from pathlib import Path
from emotrans.errors import ConfigError
from emotrans.experiments.runner import _Lock
folder, holders, start = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    pass
try:
    with _Lock(folder):
        mine = holders / str(os.getpid())
        mine.touch()
        time.sleep(0.2)
        others = [p.name for p in holders.iterdir() if p != mine]
        mine.unlink()
        sys.exit(1 if others else 0)
except ConfigError:
    sys.exit(3)
"""
    import time

    holders = tmp_path / "holders"
    holders.mkdir()
    for _ in range(3):
        start = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(tmp_path / "g"), str(holders), str(start)]
            )
            for _ in range(6)
        ]
        codes = [p.wait(timeout=60) for p in procs]
        assert 1 not in codes, codes  # never two holders at once
        assert 0 in codes


def test_from_csd_checks_the_report_path_before_writing_the_h5(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = ["data", "from-csd", "--text", str(tmp_path / "t.csd"), "--labels"]
    argv += [str(tmp_path / "l.csd"), "--folds", "mosi", "--report"]
    argv += [str(tmp_path / "file" / "report.json"), "--out", str(tmp_path / "out.h5")]
    err = one_line_error(capsys, argv)
    assert "report.json" in err and not (tmp_path / "out.h5").exists()
