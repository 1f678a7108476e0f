"""The ``emotrans`` command.

Each sub-command group lives in its own module of this package and exposes
``register(subparsers)``, which adds its parsers and sets ``func`` on them. ``func`` receives
the parsed arguments and returns an exit status. Library errors (:class:`EmotransError`) are
printed on one line and exit with status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from emotrans.errors import ConfigError, EmotransError
from emotrans.version import __version__

# Order here is the order in `emotrans --help`.
_COMMAND_MODULES = (
    "demo", "data", "extract", "embed", "train", "predict", "serve", "models", "grid",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotrans",
        description="Multimodal emotion recognition with modality-transferable emotion "
        "embeddings (Dai et al., AACL 2020).",
    )
    parser.add_argument("--version", action="version", version=f"emotrans {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="`emotrans COMMAND --help` shows its options"
    )
    for name in _COMMAND_MODULES:
        qualified = f"{__name__}.{name}"
        if importlib.util.find_spec(qualified) is None:
            continue
        importlib.import_module(qualified).register(sub)
    _add_verbosity(parser, top=True)
    return parser


def _add_verbosity(
    parser: argparse.ArgumentParser, top: bool, seen: set[int] | None = None
) -> None:
    """Add ``-v/--verbose`` and ``-q/--quiet`` to ``parser`` and to every command under it, so
    both are accepted before or after any command (``emotrans -q data synth ...`` and
    ``emotrans data synth ... -q``).

    Only the top parser has defaults (False); below it the default is ``SUPPRESS``, so a
    command's parser never overwrites a flag given before the command.
    """
    seen = set() if seen is None else seen
    if id(parser) in seen:  # an alias names the same parser twice
        return
    seen.add(id(parser))
    default = False if top else argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="log progress details (INFO messages) on stderr",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress output on stderr (warnings and errors still show)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_verbosity(child, top=False, seen=seen)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("emotrans: %(levelname)s: %(message)s"))
    root = logging.getLogger("emotrans")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``emotrans`` console script. Returns the exit status.

    An :class:`EmotransError` (also one raised while parsing a flag's value) and an
    ``OSError`` on a file are one line on stderr and status 2; a closed output pipe
    (``emotrans data inspect X | head -1``) ends quietly; Ctrl-C and SIGTERM end with 130.
    """
    previous = _terminate_as_interrupt()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.verbose and args.quiet:
            raise ConfigError("give -v/--verbose or -q/--quiet, not both")
        _setup_logging(args.verbose)
        if not getattr(args, "func", None):
            parser.print_help()
            return 1
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return status
    except EmotransError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by the closed pipe
    except KeyboardInterrupt:
        print("emotrans: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a read-only folder, a path that cannot be created
        logging.getLogger("emotrans").debug("OSError", exc_info=True)
        where = exc.filename if exc.filename is not None else "output"
        return _fail(f"{where}: {exc.strerror or exc}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fail(message: str) -> int:
    print(f"emotrans: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _terminate_as_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt (as Ctrl-C does), so staged outputs are removed.

    Returns the previous handler, or None when not in the main thread (tests, servers).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def run() -> None:
    try:
        status = main()
    except KeyboardInterrupt:  # a second interrupt (or SIGTERM) while the first was handled
        print("emotrans: interrupted", file=sys.stderr)
        status = 130
    if status == 130:
        # An interrupt raised inside a nested evaluation (torch's pybind11 code runs some through
        # PyRun_String) leaves CPython's "unhandled KeyboardInterrupt" mark set even though main
        # handled it, and the interpreter would then kill itself with SIGINT instead of exiting
        # 130. Staged outputs are already removed here, so end the process directly.
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)
    sys.exit(status)


if __name__ == "__main__":
    run()
