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
import sys
from collections.abc import Sequence

from emotrans.errors import EmotransError
from emotrans.version import __version__

# Order here is the order in `emotrans --help`.
_COMMAND_MODULES = ("demo", "data", "extract", "embed", "train", "predict", "models", "grid")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotrans",
        description="Multimodal emotion recognition with modality-transferable emotion "
        "embeddings (Dai et al., AACL 2020).",
    )
    parser.add_argument("--version", action="version", version=f"emotrans {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        qualified = f"{__name__}.{name}"
        if importlib.util.find_spec(qualified) is None:
            continue
        importlib.import_module(qualified).register(sub)
    return parser


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("emotrans: %(levelname)s: %(message)s"))
    root = logging.getLogger("emotrans")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``emotrans`` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EmotransError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"emotrans: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emotrans: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
