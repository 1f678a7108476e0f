"""The transferable model: shapes, emotion lists, padding, options (docs/design.md, "The model")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from emotrans.config import RunConfig
from emotrans.errors import ConfigError
from emotrans.models.encoders import RNNEncoder, left_to_right_padded
from emotrans.models.registry import build_model, resolve_config
from emotrans.models.transferable import TransferableModel

DIMS = {"text": 12, "audio": 7, "vision": 5}
D = 16
SUBSETS = ["t", "a", "v", "ta", "tv", "av", "tav"]


def batch(b=4, t=6, lengths=(6, 3, 1, 0), seed=0):
    g = torch.Generator().manual_seed(seed)
    feats, lens = {}, {}
    length = torch.tensor(lengths)
    for m, d in DIMS.items():
        x = torch.randn(b, t, d, generator=g)
        x[torch.arange(t)[None, :] < (t - length)[:, None]] = 0  # left padding
        feats[m], lens[m] = x, length.clone()
    return feats, lens


def small_model(modalities="tav", **kw) -> TransferableModel:
    cfg = RunConfig(modalities=modalities, hidden_audio=8, hidden_vision=4, **kw)
    torch.manual_seed(0)
    model = build_model(cfg, DIMS, D)
    model.set_emotions(["anger", "joy", "fear"], np.random.default_rng(0).standard_normal((3, D)))
    return model.eval()


@pytest.mark.parametrize("modalities", SUBSETS)
def test_logits_have_one_column_per_emotion_for_every_modality_subset(modalities):
    model = small_model(modalities)
    feats, lens = batch()
    assert model(feats, lens).shape == (4, 3)
    assert model.modality_weights.shape == (len(modalities),)
    assert torch.allclose(
        model.modality_weights, torch.full((len(modalities),), 1 / len(modalities))
    )


def test_single_modality_logits_are_that_modalitys_scores():
    model = small_model("a")
    feats, lens = batch()
    r = model.encoders["audio"](feats["audio"], lens["audio"])
    expected = r @ model.maps["audio"](model.emotion_vectors).T
    assert torch.allclose(model(feats, lens), expected, atol=1e-6)


def test_fusion_is_the_weighted_sum_of_modality_dot_products():
    model = small_model("tav")
    feats, lens = batch()
    with torch.no_grad():
        model.modality_weights.copy_(torch.tensor([0.5, 2.0, -1.0]))
    r = model.utterance_vectors(feats, lens)
    e = model.emotion_space()
    expected = (
        0.5 * r["text"] @ e["text"].T
        + 2.0 * r["audio"] @ e["audio"].T
        - r["vision"] @ e["vision"].T
    )
    assert torch.allclose(model(feats, lens), expected, atol=1e-5)


def test_trained_weights_score_any_list_of_emotion_names():
    model = small_model()
    feats, lens = batch()
    before = model(feats, lens)
    new = np.random.default_rng(1).standard_normal((5, D))
    model.set_emotions(["a", "b", "c", "d", "e"], new)
    assert model(feats, lens).shape == (4, 5)
    # scoring is per emotion: the same vector gives the same column whatever the list
    old = model.emotion_vectors.numpy().copy()
    model.set_emotions(["x", "anger-again"], np.stack([new[0], old[0] * 0 + new[0]]))
    out = model(feats, lens)
    assert torch.allclose(out[:, 0], out[:, 1])
    assert before.shape == (4, 3)


def test_padding_values_never_change_the_output():
    for pooling, cell in itertools.product(("last", "final", "mean"), ("lstm", "gru")):
        model = small_model(pooling=pooling, rnn=cell)
        feats, lens = batch()
        noisy = {m: x.clone() for m, x in feats.items()}
        for m in noisy:
            noisy[m][1, :3] = 7.0  # row 1 has 3 valid steps: steps 0..2 are padding
            noisy[m][3] = -5.0  # row 3 is all padding
        assert torch.allclose(model(feats, lens), model(noisy, lens), atol=1e-6), (pooling, cell)


def test_padded_row_encodes_like_the_same_row_unpadded():
    enc = RNNEncoder(5, 4, pooling="last").eval()
    x = torch.randn(1, 3, 5)
    padded = torch.cat([torch.zeros(1, 4, 5), x], dim=1)
    a = enc(x, torch.tensor([3]))
    b = enc(padded, torch.tensor([3]))
    assert torch.allclose(a, b, atol=1e-6)


def test_last_step_pooling_sums_the_two_directions_at_the_last_step():
    enc = RNNEncoder(5, 4, num_layers=1, pooling="last").eval()
    x = torch.randn(2, 3, 5)
    out, _ = enc.rnn(x)  # (B, T, 2H)
    assert torch.allclose(enc(x, torch.tensor([3, 3])), out[:, -1, :4] + out[:, -1, 4:], atol=1e-6)


def test_reference_padding_runs_the_padded_rows_through_the_rnn():
    enc = RNNEncoder(5, 4, pooling="last", padding="reference").eval()
    x = torch.randn(3, 6, 5)
    x[0, :2] = 0  # left padding: row 0 has 4 valid steps, row 1 has 1
    x[1, :5] = 0
    out, _ = enc.rnn(x)  # (B, T, 2H)
    expected = out[:, -1, :4] + out[:, -1, 4:]
    assert torch.allclose(enc(x, torch.tensor([4, 1, 6])), expected, atol=1e-6)


def test_reference_padding_differs_from_packed_only_when_rows_are_padded():
    packed = RNNEncoder(5, 4, pooling="last").eval()
    reference = RNNEncoder(5, 4, pooling="last", padding="reference").eval()
    reference.load_state_dict(packed.state_dict())
    x = torch.randn(2, 6, 5)
    full = torch.tensor([6, 6])
    assert torch.allclose(packed(x, full), reference(x, full), atol=1e-6)
    x[0, :3] = 0
    short = torch.tensor([3, 6])
    a, b = packed(x, short), reference(x, short)
    assert torch.allclose(a[1], b[1], atol=1e-6)  # the full row is the same
    assert not torch.allclose(a[0], b[0], atol=1e-4)  # the forward direction read the zeros


def test_reference_padding_mean_pools_over_the_valid_last_steps():
    enc = RNNEncoder(5, 4, num_layers=1, pooling="mean", padding="reference").eval()
    x = torch.randn(2, 6, 5)
    x[0, :4] = 0  # row 0: 2 valid steps at the end
    out, _ = enc.rnn(x)
    summed = out[..., :4] + out[..., 4:]  # (B, T, H)
    got = enc(x, torch.tensor([2, 6]))
    assert torch.allclose(got[0], summed[0, 4:].mean(0), atol=1e-6)
    assert torch.allclose(got[1], summed[1].mean(0), atol=1e-6)


def test_padding_mode_is_a_setting_of_every_recurrent_model():
    for name in ("transferable", "ef-lstm", "lf-lstm"):
        cfg = RunConfig(model=name, padding="reference", hidden_audio=8, hidden_vision=4)
        model = build_model(cfg, DIMS, D)
        encoders = [m for m in model.modules() if isinstance(m, RNNEncoder)]
        assert encoders and all(e.padding == "reference" for e in encoders), name
    with pytest.raises(
        ConfigError, match="padding = 'ragged': choose one of packed, aligned, reference"
    ):
        resolve_config(RunConfig(padding="ragged"))


def test_left_to_right_padded_moves_valid_steps_to_the_front():
    x = torch.arange(8.0).view(2, 4, 1)
    out = left_to_right_padded(x, torch.tensor([2, 4]))
    assert out[0, :2, 0].tolist() == [2.0, 3.0]
    assert out[1, :, 0].tolist() == [4.0, 5.0, 6.0, 7.0]


def test_cosine_score_is_bounded_by_the_learned_temperature():
    model = small_model(score="cosine")
    feats, lens = batch()
    limit = len(model.modalities) * model.log_temperature.exp() * model.modality_weights.abs().max()
    assert model(feats, lens).abs().max() <= limit + 1e-5


@pytest.mark.parametrize("modalities", SUBSETS)
def test_logits_are_the_fusion_weighted_sum_of_the_modality_scores(modalities):
    model = small_model(modalities)
    with torch.no_grad():
        model.modality_weights.copy_(torch.arange(1.0, len(modalities) + 1))
    feats, lens = batch()
    scores = model.modality_scores(feats, lens)  # modality -> (B, K)
    weights = model.fusion_weights()
    assert list(scores) == list(weights) == list(model.modalities)
    fused = sum(weights[m] * s for m, s in scores.items())
    torch.testing.assert_close(model(feats, lens), fused)


def test_text_hidden_size_must_equal_the_embedding_dimension():
    with pytest.raises(ConfigError, match="must equal the emotion embedding dimension"):
        build_model(RunConfig(hidden_text=32), DIMS, D)


def test_emotion_vectors_of_the_wrong_shape_are_rejected():
    model = small_model()
    with pytest.raises(ConfigError, match="expected \\(2, 16\\)"):
        model.set_emotions(["a", "b"], np.zeros((2, 15)))


def test_gradients_reach_the_modality_maps_and_weights():
    model = small_model().train()
    feats, lens = batch()
    model(feats, lens).sum().backward()
    assert model.maps["audio"].weight.grad.abs().sum() > 0
    assert model.modality_weights.grad.abs().sum() > 0
    assert model.emotion_vectors.grad is None  # the embeddings are frozen
