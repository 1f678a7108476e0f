"""The model contract (docs/design.md, "Extending emotrans"): every registered model, and a toy
model registered here with one line, builds from its settings, scores any modality subset,
changes its emotion list, round-trips through safetensors and learns through the Trainer."""

from __future__ import annotations

import argparse
import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from emotrans.cli.settings import add_config_arguments
from emotrans.config import POSITIVE, RunConfig, setting
from emotrans.models.base import EmotionModel
from emotrans.models.heads import EmotionHead
from emotrans.models.registry import (
    build_model,
    model_class,
    model_names,
    model_settings_fields,
    register_model,
    resolve_config,
    unregister_model,
)
from emotrans.training.batches import TensorSplit
from emotrans.training.trainer import Trainer

DIMS = {"text": 6, "audio": 4, "vision": 3}
D = 8  # emotion-embedding dimension
SUBSETS = ["t", "a", "v", "ta", "tv", "av", "tav"]
EMOTIONS = ["anger", "joy", "fear"]
# small sizes for every model; settings of other models are ignored by build_model
TINY = dict(
    layers=1,
    hidden_audio=8,
    hidden_vision=8,
    ef_hidden=16,
    mult_dim=8,
    mult_heads=2,
    mult_layers=1,
)


# -- a model defined outside the package --------------------------------------------------------


@dataclass(frozen=True)
class ToySettings:
    toy_hidden: int = setting(32, "toy hidden size", valid=POSITIVE)


class ToyModel(EmotionModel):
    """Mean of each modality's valid steps, concatenated, one hidden layer, a head per name."""

    name = "toy"
    description = "toy: mean-pooled features, one hidden layer"
    uses_embeddings = False
    Settings = ToySettings

    def __init__(self, modalities: Sequence[str], dims: dict[str, int], hidden: int) -> None:
        super().__init__(modalities)
        self.hidden = nn.Linear(sum(dims[m] for m in self.modalities), hidden)
        self.head = EmotionHead(hidden)

    @classmethod
    def from_settings(cls, settings, modalities, dims, embedding_dim):
        return cls(modalities, dims, settings.toy_hidden)

    def set_emotions(self, names, vectors=None):
        self.head.set_emotions(names)
        self.emotions = list(names)

    def forward(self, features, lengths):
        means = [
            features[m].sum(1) / lengths[m].clamp(min=1).unsqueeze(1) for m in self.modalities
        ]  # M x (B, D_m): padding is zero
        return self.head(torch.relu(self.hidden(torch.cat(means, dim=1))))  # (B, K)

    def modality_scores(self, features, lengths):
        return None


@pytest.fixture
def toy():
    register_model("toy", ToyModel)
    yield "toy"
    unregister_model("toy")


# -- helpers ------------------------------------------------------------------------------------


def tiny_model(name: str, modalities: str = "tav", emotions=EMOTIONS, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(RunConfig(model=name, modalities=modalities, **TINY), DIMS, D)
    model.set_emotions(emotions, emotion_vectors(name, emotions))
    return model


def emotion_vectors(name: str, emotions) -> np.ndarray | None:
    if not model_class(name).uses_embeddings:
        return None
    rng = np.random.default_rng(zlib.crc32(",".join(emotions).encode()))
    return rng.standard_normal((len(emotions), D)).astype(np.float32)


def batch(b: int = 5, t: int = 4, lengths=(4, 2, 1, 4, 3), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    length = torch.tensor(lengths)
    feats, lens = {}, {}
    for m, d in DIMS.items():
        x = torch.randn(b, t, d, generator=g)
        x[torch.arange(t)[None, :] < (t - length)[:, None]] = 0  # left zero padding
        feats[m], lens[m] = x, length.clone()
    return feats, lens


def planted(n: int, seed: int) -> TensorSplit:
    """Labels that are a linear function of the features: emotion k is present when
    w_k . x > 0, x the concatenation of the modalities' (step-constant) feature vectors."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(99).standard_normal((sum(DIMS.values()), len(EMOTIONS)))
    x = rng.standard_normal((n, sum(DIMS.values()))).astype(np.float32)
    labels = (x @ w > 0).astype(np.float32)  # (N, K)
    features, lengths, start = {}, {}, 0
    for m, d in DIMS.items():
        features[m] = torch.from_numpy(np.repeat(x[:, None, start : start + d], 3, axis=1))
        lengths[m] = torch.full((n,), 3, dtype=torch.int64)
        start += d
    return TensorSplit(features, lengths, torch.from_numpy(labels), np.arange(n))


ALL = pytest.mark.parametrize("name", model_names())


# -- the contract, for every registered model ----------------------------------------------------


@ALL
def test_a_model_declares_its_name_description_and_settings(name):
    cls = model_class(name)
    assert issubclass(cls, EmotionModel) and cls.name == name and cls.description
    assert dataclasses.is_dataclass(cls.Settings)
    for f in dataclasses.fields(cls.Settings):
        assert f.metadata.get("help"), f"{name}: {f.name} has no help text"


def test_model_settings_do_not_shadow_run_settings_and_agree_on_types():
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    for setting_name, by_model in model_settings_fields().items():
        assert setting_name not in run_fields
        assert len({str(f.type) for f in by_model.values()}) == 1, setting_name


@ALL
@pytest.mark.parametrize("modalities", SUBSETS)
def test_logits_have_one_column_per_emotion_for_every_modality_subset(name, modalities):
    model = tiny_model(name, modalities).eval()
    feats, lens = batch()
    used = {m: x for m, x in feats.items() if m in model.modalities}
    assert model(used, {m: lens[m] for m in used}).shape == (5, len(EMOTIONS))


@ALL
def test_a_new_emotion_list_changes_the_number_of_outputs(name):
    model = tiny_model(name).eval()
    feats, lens = batch()
    names = ["anger", "joy", "fear", "sadness", "surprise"]
    model.set_emotions(names, emotion_vectors(name, names))
    assert model.emotions == names and model(feats, lens).shape == (5, 5)
    model.set_emotions(["joy"], emotion_vectors(name, ["joy"]))
    assert model(feats, lens).shape == (5, 1)


@ALL
def test_state_dict_round_trips_through_safetensors(name, tmp_path):
    model = tiny_model(name, seed=0).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "m.st")
    other = tiny_model(name, seed=1).eval()  # other weights, same emotions
    other.load_state_dict(load_file(tmp_path / "m.st"))
    feats, lens = batch()
    with torch.no_grad():
        assert torch.equal(model(feats, lens), other(feats, lens))


@ALL
@pytest.mark.parametrize("modalities", ["t", "av", "tav"])
def test_modality_scores_are_none_or_one_b_by_k_tensor_per_modality(name, modalities):
    model = tiny_model(name, modalities).eval()
    feats, lens = batch()
    scores = model.modality_scores(feats, lens)
    if scores is None:
        return
    assert list(scores) == list(model.modalities)
    assert all(s.shape == (5, len(EMOTIONS)) for s in scores.values())


@ALL
def test_a_planted_linear_task_is_learned_through_the_trainer(name):
    config = resolve_config(
        RunConfig(model=name, epochs=12, batch_size=32, lr=3e-3, early_stop=12, **TINY)
    )
    torch.manual_seed(0)
    model = build_model(config, DIMS, D)
    model.set_emotions(EMOTIONS, emotion_vectors(name, EMOTIONS))
    result = Trainer(config, select_key="wacc").fit(model, planted(384, 1), planted(192, 2))
    assert result.best_score > 0.7, f"{name}: validation weighted accuracy {result.best_score}"


# -- extending: a model registered from outside the package --------------------------------------


def test_a_registered_model_is_built_resolved_and_listed_like_the_others(toy):
    assert toy in model_names()
    config = resolve_config(RunConfig(model=toy, toy_hidden="4", hidden_audio=8))
    assert config.model_settings == {"toy_hidden": 4}
    assert "toy_hidden" in model_settings_fields()
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert "--toy-hidden" in parser.format_help()
    assert isinstance(build_model(config, DIMS, 0), ToyModel)


def test_a_registered_model_trains_and_predicts_through_the_trainer(toy):
    config = resolve_config(
        RunConfig(model=toy, epochs=10, batch_size=32, lr=1e-2, toy_hidden=16, **TINY)
    )
    torch.manual_seed(0)
    model = build_model(config, DIMS, 0)
    model.set_emotions(EMOTIONS)
    trainer = Trainer(config, select_key="wacc")
    result = trainer.fit(model, planted(384, 1), planted(192, 2))
    assert result.best_score > 0.7
    test = planted(64, 3)
    _, logits = trainer.evaluate(model, test, nn.BCEWithLogitsLoss())
    assert logits.shape == (64, len(EMOTIONS))


def test_registering_a_taken_name_or_a_mismatched_class_is_refused(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_model("toy", ToyModel)
    with pytest.raises(ValueError, match="has name 'toy'"):
        register_model("other", ToyModel)
