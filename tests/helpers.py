"""Constants and small helpers shared by the test modules (import them: ``from helpers import EMB``).

Fixtures live in ``conftest.py``; plain values and functions that tests call with their own
arguments live here, so each test still shows the sizes and seeds it depends on.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from emotrans.errors import DataFormatError

EMB = "random:0:16"
"""Emotion embeddings for tests: a fixed 16-d random vector per name (no model, no file)."""

TINY = dict(epochs=2, batch_size=16, hidden_audio=8, hidden_vision=4, layers=1, embeddings=EMB)
"""RunConfig settings of a tiny, fast training run (2 epochs, 1-layer encoders of size 8/4)."""
TINY_FLAGS = ["--epochs", "1", "--batch-size", "16", "--hidden-audio", "8", "--hidden-vision", "4",
              "--layers", "1", "--embeddings", EMB]  # fmt: skip
"""A one-epoch tiny run, as `emotrans train` flags."""


def write_mosei(out: Path, scale: float, seed: int = 0) -> Path:
    """Generated CMU-MOSEI emotion data in the reference h5 layout, written into ``out``."""
    from emotrans.data.synthetic import write_synthetic

    write_synthetic(out, dataset="mosei", format="mosei-h5", scale=scale, seed=seed, embeddings=EMB)
    return out


def load_error(load, path, **options) -> str:
    """The message of the :class:`DataFormatError` that ``load(path, **options)`` raises,
    checked to be one line."""
    with pytest.raises(DataFormatError) as info:
        load(path, **options)
    message = str(info.value)
    assert "\n" not in message
    return message


def one_line_error(capsys, argv: list[str]) -> str:
    """Run ``emotrans argv``; check exit 2 and a single ``emotrans: error:`` line; return it."""
    from emotrans.cli import main

    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "\n" not in err and err.startswith("emotrans: error: "), err
    assert "Traceback" not in err
    return err


def mult_content(n=3, steps=4, dims=(5, 3, 2), dtype=np.float32, seed=0) -> dict:
    """A valid MulT IEMOCAP content: per split text/audio/vision (N, T, D_m), labels (N, 4, 2)."""
    rng = np.random.default_rng(seed)
    content = {}
    for split in ("train", "valid", "test"):
        entry = {
            m: rng.standard_normal((n, steps, d)).astype(dtype)
            for m, d in zip(("text", "audio", "vision"), dims)
        }
        labels = np.zeros((n, 4, 2), np.float32)
        labels[:, :, 0] = 1
        labels[np.arange(n), np.arange(n) % 4] = [0, 1]
        entry["labels"] = labels
        content[split] = entry
    return content


def write_pickle(path, content, protocol=4):
    """Pickle ``content`` to ``path`` (returned)."""
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)
    return path
