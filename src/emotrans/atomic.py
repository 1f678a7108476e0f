"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or an error while writing leaves no half-written file at the target path.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from emotrans.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers are then never removed automatically
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def check_output(target: str | os.PathLike[str], kind: str = "file") -> Path:
    """``target`` as a Path, once it is known to be writable as a ``kind`` ("file" or
    "directory") and its folder exists.

    Refused with a one-line :class:`ConfigError`: a target that exists as something else (a
    directory where a file is expected, a device such as ``/dev/null``, a socket), and a
    target below a regular file (``out.h5/run``). The folder is created when missing.
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        mode = target.stat().st_mode if target.exists() else 0
        wanted = stat.S_ISREG(mode) if kind == "file" else stat.S_ISDIR(mode)
        if not wanted:
            what = _describe(mode)
            raise ConfigError(f"{target}: is {what}; expected a {kind} path to write")
    for parent in [target.parent, *target.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{target}: {parent} is {_describe(parent.stat().st_mode)}")
            break
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{target.parent}: cannot create ({exc.strerror or exc})") from None
    return target


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file, not a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if mode == 0:
        return "a dangling symbolic link"
    return "not a regular file"


def hold(path: str | os.PathLike[str]) -> int | None:
    """Open ``path`` (a file or a directory) and take an exclusive ``flock`` on it without
    waiting. Returns the descriptor (close it to release), or None when another process holds
    it. The OS releases the lock when its holder dies, even by SIGKILL."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _owner() -> str:
    """``host-pid`` of this process, written into the names of its temporary files."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _owner_alive(name: str) -> bool:
    """Whether the process named in a temporary file's name (``.<target>.<host>-<pid>.XXXX
    .tmp``) may still be writing it; True when the name says nothing."""
    try:
        owner = name.rsplit(".", 3)[-3]
        host, pid = owner.rsplit("-", 1)
        pid_n = int(pid)
    except (IndexError, ValueError):
        return True
    if host != socket.gethostname():
        return True  # another machine sharing the folder: cannot tell
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(folder: Path, pattern: str) -> list[Path]:
    """Delete the temporary files and folders matching ``pattern`` in ``folder`` that no live
    process uses: the leftovers of killed commands. Returns them.

    A folder is in use while a process holds its lock (:func:`hold`); a file while the
    process named in it lives (HDF5 takes its own ``flock`` on the files it writes, so files
    cannot carry one).
    """
    removed = []
    for stale in folder.glob(pattern):
        if not stale.is_dir() and _owner_alive(stale.name):
            continue
        fd = hold(stale)
        if fd is None:
            continue  # in use, or already gone
        try:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
        finally:
            os.close(fd)
    if removed:
        log.info("removed leftovers of killed commands: %s", ", ".join(map(str, removed)))
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and the target is left untouched. Only a
    regular file (or nothing) is ever replaced (:func:`check_output`). The temporary file is
    named after this process, so a later writer of the same target removes it if this
    process is killed, and never while it lives. An ``OSError`` while writing (a full disk)
    names ``target``, not the temporary file.
    """
    target = check_output(target)
    remove_leftovers(target.parent, f".{glob.escape(target.name)}.*.tmp")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.{_owner()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp_path
        check_output(target)  # still not a directory or a device
        os.replace(tmp_path, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if exc.filename in (None, tmp, str(tmp_path)):
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically.

    A path that is not UTF-8 on disk reaches Python with its bad bytes as lone surrogates
    (``\udcff``); they are written as that escape, so the file stays UTF-8 and a JSON string
    holding it reads back as the same path.
    """
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh hidden folder beside ``target`` (``.<name>.XXXX.tmp``), locked while in use and
    removed on exit (the lock tells a later command that it is in use); the caller moves what it wrote into ``target``. Leftovers of killed
    commands writing the same target are removed first."""
    target = check_output(target, "directory")
    remove_leftovers(target.parent, f".{glob.escape(target.name)}.*.tmp")
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    fd = hold(stage)
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if fd is not None:
            os.close(fd)
