"""The run directory: everything one training run leaves behind.

::

    RUN_DIR/
      config.json        every setting (RunConfig), enough to rebuild the model and rerun
      model.json         what the weights need: model name, feature dims, embedding dim,
                         the emotions trained on, decision thresholds
      model.safetensors  the weights (never a pickle), written atomically
      metrics.json       valid/test metrics at the best validation epoch (+ protocol sections)
      history.csv        per epoch: train loss, valid loss, valid average, learning rate, seconds
      report.md          the per-emotion tables, human-readable

A run is trained into a hidden temporary folder beside RUN_DIR and renamed into place when
complete, so an interrupted run never leaves a half-written run directory.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emotrans.atomic import atomic_path, check_output, hold, remove_leftovers, write_text_atomic
from emotrans.config import RunConfig
from emotrans.errors import RunDirError
from emotrans.training.documents import check_config, check_metrics, check_model_info, read_json

log = logging.getLogger(__name__)

REQUIRED = ("config.json", "model.json", "model.safetensors", "metrics.json")
CHECKPOINT = "checkpoint.pt"
"""The staging folder's last-epoch state (see :mod:`emotrans.training.checkpoint`)."""


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) as None, so it is strict JSON.

    Dicts, lists and tuples are copied recursively (tuples become lists); the inverse on
    reading is ``RunDir.metrics()``, which turns nulls back into NaN.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _none_to_nan(value: Any) -> Any:
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {k: _none_to_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return value


def write_json(path: str | Path, data: Any) -> None:
    """JSON with NaN written as null (strict JSON), atomically."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=2) + "\n")


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` holds a finished run."""
    path = Path(path)
    return all((path / name).is_file() for name in REQUIRED)


def partial_dir(target: str | Path) -> Path:
    """The staging folder of the run directory ``target``: ``.<name>.partial`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.partial"


@contextmanager
def staging_dir(
    target: str | Path, overwrite: bool = False, resume: bool = False
) -> Iterator[Path]:
    """A folder beside ``target`` that replaces it on success, vanishes on failure.

    The folder (:func:`partial_dir`) is locked while a process trains into it, so two
    processes never share it, and a killed process's folder is recognised: with ``resume``
    and a saved epoch (``checkpoint.pt``) it is reused, so training continues from there;
    without, a folder with a saved epoch is refused (pass ``resume`` or ``overwrite``) and
    one without is removed. Only an interrupt by SIGKILL leaves the folder behind: Ctrl-C,
    SIGTERM and errors remove it.
    """
    target = check_output(target, "directory")
    if target.exists() and not overwrite:
        if is_complete(target):
            raise RunDirError(
                f"{target}: already holds a finished run; choose another --out or pass --overwrite"
            )
        if any(target.iterdir()):
            raise RunDirError(f"{target}: exists and is not an empty run directory")
    remove_leftovers(target.parent, f".{glob.escape(target.name)}.*.partial")  # older names
    tmp = partial_dir(target)
    fd = _claim(tmp, target, overwrite, resume)
    try:
        yield tmp
        _put_in_place(tmp, target)
    except FinalWriteError as exc:
        raise _kept(exc, tmp, target) from None
    except StagedRunError:
        raise  # the staged run is the user's to resume or overwrite: keep it
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def _put_in_place(tmp: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(tmp, target)


class StagedRunError(RunDirError):
    """The interrupted run staged for ``--resume`` cannot be resumed as asked (other
    settings, a damaged checkpoint); :func:`staging_dir` leaves it in place."""


class FinalWriteError(RunDirError):
    """Writing the files of a trained run failed (a full disk, a quota, an I/O error).

    Raised by :func:`emotrans.training.runs.write_run` inside :func:`staging_dir`, which
    keeps what was trained instead of removing its staging folder: with ``complete`` (every
    file of :data:`REQUIRED` written, only ``missing`` ones not) the run is put in place
    without them; otherwise the staging folder stays, with its checkpoint, for ``--resume``.
    """

    def __init__(self, problem: str, complete: bool, missing: list[str]) -> None:
        super().__init__(problem)
        self.problem, self.complete, self.missing = problem, complete, missing


def _kept(exc: FinalWriteError, tmp: Path, target: Path) -> RunDirError:
    """Keep what a failed final write leaves (see :class:`FinalWriteError`) and say where."""
    missing = ", ".join(exc.missing)
    if exc.complete:
        (tmp / CHECKPOINT).unlink(missing_ok=True)  # a complete run needs only its weights
        try:
            _put_in_place(tmp, target)
            where = target
        except OSError:
            where = tmp
        return RunDirError(
            f"{exc.problem}; the trained run is kept, complete but without {missing}, in "
            f"{where}: evaluate and predict work on it"
        )
    if not (tmp / CHECKPOINT).is_file():  # nothing to resume from: as any other failure
        shutil.rmtree(tmp, ignore_errors=True)
        return RunDirError(f"{exc.problem}; nothing was written to {target}")
    return RunDirError(
        f"{exc.problem}; the trained run is kept in {tmp} with its last checkpoint: free "
        f"space and run the same command with --resume to write {target} without training again"
    )


def _claim(tmp: Path, target: Path, overwrite: bool, resume: bool) -> int:
    """Create or take over the staging folder ``tmp``; return the descriptor holding its lock."""
    if tmp.exists() or tmp.is_symlink():
        if not tmp.is_dir() or tmp.is_symlink():
            raise RunDirError(f"{tmp}: in the way of the run's staging folder; remove it")
        fd = hold(tmp)
        if fd is None:
            raise RunDirError(
                f"{target}: another emotrans process is training into it (staged in {tmp})"
            )
        saved = (tmp / CHECKPOINT).is_file()
        if saved and resume and not overwrite:
            log.info("%s: resuming the interrupted run staged in %s", target, tmp)
            return fd
        if saved and not overwrite:
            os.close(fd)
            raise RunDirError(
                f"{target}: an interrupted run is staged in {tmp}; pass --resume to continue "
                "it, or --overwrite to start again"
            )
        for entry in list(tmp.iterdir()):  # empty it but keep the folder, and its lock
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        return fd
    tmp.mkdir()
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    fd = hold(tmp)
    if fd is None:
        raise RunDirError(f"{target}: another emotrans process is training into it ({tmp})")
    return fd


class RunDir:
    """Read and write the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- writing ---------------------------------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        config.save(self.path / "config.json")

    def write_model(self, model, info: dict[str, Any]) -> None:
        from safetensors.torch import save_file  # deferred: imports torch

        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(self.path / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"model": info.get("model", "")})
        write_json(self.path / "model.json", info)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / "metrics.json", metrics)

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        write_text_atomic(self.path / "history.csv", buf.getvalue())

    def write_report(self, text: str) -> None:
        write_text_atomic(self.path / "report.md", text)

    # -- reading ---------------------------------------------------------------------------
    def _read_json(self, name: str, what: str) -> Any:
        file = self.path / name
        if not file.is_file():
            if not self.path.is_dir():
                raise RunDirError(f"{self.path}: no such run directory")
            raise RunDirError(f"{file}: missing; {self.path} is not a finished run directory")
        return read_json(file, what)

    def config(self) -> RunConfig:
        """config.json as a :class:`RunConfig`; a one-line :class:`RunDirError` or
        :class:`ConfigError` naming the file and the key when it is damaged."""
        file = self.path / "config.json"
        data = check_config(self._read_json("config.json", "run settings"), file)
        return RunConfig.from_dict(data, where=str(file))

    def model_info(self) -> dict[str, Any]:
        """model.json, checked (:func:`~emotrans.training.documents.check_model_info`)."""
        data = self._read_json("model.json", "model description")
        return check_model_info(data, self.path / "model.json")

    def metrics(self) -> dict[str, Any]:
        """metrics.json, checked (:func:`~emotrans.training.documents.check_metrics`), with
        nulls as NaN."""
        data = self._read_json("metrics.json", "run metrics")
        return _none_to_nan(check_metrics(data, self.path / "metrics.json"))

    def history(self) -> list[dict[str, str]]:
        file = self.path / "history.csv"
        if not file.is_file():
            return []
        with file.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def load_state(self) -> dict[str, Any]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file  # deferred: imports torch

        file = self.path / "model.safetensors"
        if not file.is_file():
            raise RunDirError(f"{file}: missing; {self.path} is not a finished run directory")
        try:
            return load_file(str(file))
        except (SafetensorError, OSError) as exc:
            raise RunDirError(f"{file}: cannot read the weights ({exc})") from None
