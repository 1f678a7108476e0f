"""Baselines (EF-LSTM, LF-LSTM, MulT): shapes, padding, per-name output units, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrans.config import RunConfig
from emotrans.errors import ConfigError
from emotrans.metrics import compute_metrics
from emotrans.models.ef_lstm import EFLSTM
from emotrans.models.heads import EmotionHead, fresh_row
from emotrans.models.lf_lstm import LFLSTM
from emotrans.models.mult import MulT
from emotrans.models.registry import build_model, model_class

DIMS = {"text": 6, "audio": 4, "vision": 3}
CODES = {"text": "t", "audio": "a", "vision": "v"}
SUBSETS = ["t", "a", "v", "ta", "tv", "av", "tav"]
MODELS = ["ef-lstm", "lf-lstm", "mult"]
EMOTIONS = ["happy", "sad", "angry"]
UNALIGNED_MODELS = ["lf-lstm", "mult"]


def tiny_config(model: str, modalities: str = "tav", **changes) -> RunConfig:
    settings = dict(
        model=model,
        modalities=modalities,
        layers=1,
        ef_hidden=8,
        hidden_text=8,
        hidden_audio=6,
        hidden_vision=4,
        mult_dim=8,
        mult_heads=2,
        mult_layers=1,
    )
    settings.update(changes)
    return RunConfig(**settings)


def tiny_model(model: str, modalities: str = "tav", emotions=EMOTIONS, seed=0, **changes):
    torch.manual_seed(seed)
    net = build_model(tiny_config(model, modalities, **changes), DIMS, 0)
    net.set_emotions(emotions)
    return net


def batch(modalities, steps, lengths, seed=0):
    """Left-zero-padded features: modality -> (B, T_m, D_m), lengths modality -> (B,)."""
    g = torch.Generator().manual_seed(seed)
    feats, lens = {}, {}
    for m in modalities:
        t = steps[m] if isinstance(steps, dict) else steps
        length = torch.as_tensor(lengths[m] if isinstance(lengths, dict) else lengths)
        x = torch.randn(len(length), t, DIMS[m], generator=g)
        pad = torch.arange(t).unsqueeze(0) < (t - length).unsqueeze(1)
        feats[m] = x.masked_fill(pad.unsqueeze(2), 0.0)
        lens[m] = length.to(torch.int64)
    return feats, lens


def names_of(code: str) -> list[str]:
    return [m for m in DIMS if CODES[m] in code]


# -- classes and construction ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"), [("ef-lstm", EFLSTM), ("lf-lstm", LFLSTM), ("mult", MulT)]
)
def test_registry_names_map_to_the_baseline_classes(name, cls):
    assert model_class(name) is cls
    assert cls.name == name and cls.description and not cls.uses_embeddings
    assert "\n" not in cls.description


@pytest.mark.parametrize("name", MODELS)
def test_a_modality_missing_from_the_data_is_a_config_error(name):
    with pytest.raises(ConfigError, match="vision"):
        build_model(tiny_config(name, "tav"), {"text": 6, "audio": 4}, 0)


def test_mult_width_must_be_a_multiple_of_the_heads():
    with pytest.raises(ConfigError, match="multiple"):
        build_model(tiny_config("mult", mult_dim=10, mult_heads=4), DIMS, 0)


def test_lf_lstm_text_hidden_size_defaults_to_300():
    net = build_model(tiny_config("lf-lstm", "t", hidden_text=0, bidirectional=False), DIMS, 0)
    assert net.encoders["text"].hidden_size == 300


def test_mult_self_attention_has_at_least_three_layers():
    net = build_model(tiny_config("mult", mult_layers=1), DIMS, 0)
    assert len(net.crossmodal["text_from_audio"].layers) == 1
    assert len(net.self_attention["text"].layers) == 3
    assert set(net.crossmodal) == {
        f"{t}_from_{s}" for t in DIMS for s in DIMS if s != t
    }  # every ordered pair


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", SUBSETS)
@pytest.mark.parametrize("name", MODELS)
def test_aligned_forward_gives_one_logit_per_emotion_for_every_modality_subset(name, code):
    net = tiny_model(name, code)
    feats, lens = batch(names_of(code), 7, [7, 4, 1, 0])
    logits = net(feats, lens)
    assert logits.shape == (4, len(EMOTIONS))
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("code", ["ta", "av", "tav"])
@pytest.mark.parametrize("name", UNALIGNED_MODELS)
def test_unaligned_forward_accepts_different_lengths_per_modality(name, code):
    net = tiny_model(name, code)
    steps = {"text": 5, "audio": 11, "vision": 8}
    lengths = {"text": [5, 2, 3], "audio": [11, 7, 1], "vision": [8, 8, 0]}
    feats, lens = batch(names_of(code), steps, lengths)
    logits = net(feats, lens)
    assert logits.shape == (3, len(EMOTIONS))
    assert torch.isfinite(logits).all()


def test_ef_lstm_rejects_unaligned_inputs_and_names_the_alternatives():
    net = tiny_model("ef-lstm", "ta")
    feats, lens = batch(["text", "audio"], {"text": 5, "audio": 9}, [3, 4])
    with pytest.raises(ConfigError, match="lf-lstm or mult"):
        net(feats, lens)


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_backward_run_under_bf16_autocast(name):
    net = tiny_model(name)
    feats, lens = batch(list(DIMS), 7, [7, 4, 1, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(feats, lens)
    logits.float().sum().backward()
    assert logits.shape == (4, len(EMOTIONS)) and torch.isfinite(logits).all()
    assert net.head.weight.grad is not None


# -- padding ---------------------------------------------------------------------------------


def _scramble_padding(feats, lens, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, x in feats.items():
        t = x.shape[1]
        pad = torch.arange(t).unsqueeze(0) < (t - lens[m]).unsqueeze(1)
        noise = 50 * torch.randn(x.shape, generator=g)
        out[m] = torch.where(pad.unsqueeze(2), noise, x)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_values_in_the_padding_do_not_change_the_outputs(name):
    net = tiny_model(name).eval()
    if name == "ef-lstm":
        steps = 9
        lengths = {"text": [9, 5, 2, 0], "audio": [9, 6, 2, 3], "vision": [9, 5, 1, 0]}
    else:
        steps = {"text": 6, "audio": 12, "vision": 9}
        lengths = {"text": [6, 3, 1, 0], "audio": [12, 4, 12, 5], "vision": [9, 9, 2, 0]}
    feats, lens = batch(list(DIMS), steps, lengths)
    with torch.no_grad():
        clean = net(feats, lens)
        noisy = net(_scramble_padding(feats, lens), lens)
    torch.testing.assert_close(noisy, clean, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_a_row_scores_the_same_padded_in_a_batch_as_alone_without_padding(name):
    """Padding neither leaks into a row nor shifts its positions."""
    net = tiny_model(name).eval()
    if name == "ef-lstm":
        steps, lengths = 10, {m: [10, 4, 7] for m in DIMS}
    else:
        steps = {"text": 6, "audio": 12, "vision": 9}
        lengths = {"text": [6, 3, 2], "audio": [12, 5, 7], "vision": [9, 4, 6]}
    feats, lens = batch(list(DIMS), steps, lengths)
    with torch.no_grad():
        together = net(feats, lens)
        for row in range(3):
            alone_feats = {
                m: x[row : row + 1, x.shape[1] - int(lens[m][row]) :] for m, x in feats.items()
            }
            alone_lens = {m: lens[m][row : row + 1] for m in lens}
            alone = net(alone_feats, alone_lens)
            torch.testing.assert_close(alone[0], together[row], rtol=0, atol=1e-5)


def test_mult_blockwise_recomputed_attention_gives_the_same_outputs_and_gradients(monkeypatch):
    """The memory-saving path for long sequences is the same function as the plain one."""
    import emotrans.models.mult as mult_module

    net = tiny_model("mult").eval()  # no dropout, so both passes are deterministic
    steps = {"text": 6, "audio": 12, "vision": 9}
    lengths = {"text": [6, 3, 1, 0], "audio": [12, 4, 12, 5], "vision": [9, 9, 2, 0]}
    feats, lens = batch(list(DIMS), steps, lengths)

    def logits_and_grads():
        net.zero_grad()
        out = net(feats, lens)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()]

    plain_out, plain_grads = logits_and_grads()
    monkeypatch.setattr(mult_module, "ATTENTION_BLOCK_SCORES", 50)
    monkeypatch.setattr(mult_module, "CHECKPOINT_FFN_ELEMENTS", 50)
    block_out, block_grads = logits_and_grads()
    torch.testing.assert_close(block_out, plain_out, rtol=0, atol=1e-5)
    for got, want in zip(block_grads, plain_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# -- output units per emotion name -----------------------------------------------------------


def test_head_keeps_trained_rows_and_gives_a_new_name_a_fresh_deterministic_row():
    head = EmotionHead(5)
    head.set_emotions(["happy", "sad"])
    with torch.no_grad():
        head.weight.add_(1.0)  # pretend training moved them
        head.bias.add_(1.0)
    trained_w, trained_b = head.weight.detach().clone(), head.bias.detach().clone()

    head.set_emotions(["sad", "surprise", "happy"])
    assert head.emotions == ["sad", "surprise", "happy"]
    assert head.weight.shape == (3, 5) and head.bias.shape == (3,)
    torch.testing.assert_close(head.weight[0], trained_w[1])
    torch.testing.assert_close(head.weight[2], trained_w[0])
    torch.testing.assert_close(head.bias[[0, 2]], trained_b[[1, 0]])
    fresh = fresh_row("surprise", 5)
    torch.testing.assert_close(head.weight[1], fresh[:5])
    torch.testing.assert_close(head.bias[1], fresh[5])
    assert head.weight[1].abs().max() <= 1 / np.sqrt(5)  # nn.Linear's init range

    torch.manual_seed(123)  # the fresh row does not depend on the global random state
    other = EmotionHead(5)
    other.set_emotions(["surprise"])
    torch.testing.assert_close(other.weight[0], head.weight[1])


def test_head_remembers_rows_of_names_dropped_from_the_list():
    head = EmotionHead(4)
    head.set_emotions(["happy", "sad"])
    with torch.no_grad():
        head.weight.fill_(0.5)
    head.set_emotions(["fear"])  # e.g. scoring an unseen emotion for a while
    head.set_emotions(["happy", "sad"])
    assert torch.all(head.weight == 0.5)


def test_after_set_emotions_the_trainable_head_parameters_are_exactly_the_current_units():
    net = tiny_model("lf-lstm", "ta", emotions=["happy", "sad"])
    net.set_emotions(["happy", "sad", "fear"])
    assert net.emotions == ["happy", "sad", "fear"]
    head_params = {n: p for n, p in net.named_parameters() if n.startswith("head.")}
    assert set(head_params) == {"head.weight", "head.bias"}
    assert head_params["head.weight"].shape[0] == 3
    feats, lens = batch(["text", "audio"], 5, [5, 3])
    net(feats, lens).sum().backward()
    assert all(p.grad is not None for p in head_params.values())


def test_head_rejects_duplicate_names_and_use_before_set_emotions():
    head = EmotionHead(3)
    with pytest.raises(ConfigError, match="no emotions"):
        head(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="sad"):
        head.set_emotions(["sad", "happy", "sad"])


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trips_through_safetensors(name, tmp_path):
    from safetensors.torch import load_file, save_file

    net = tiny_model(name, seed=1).eval()
    net.set_emotions(["happy", "surprise", "sad"])
    save_file(net.state_dict(), str(tmp_path / "model.safetensors"))

    again = tiny_model(name, emotions=["happy", "surprise", "sad"], seed=2).eval()
    again.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    feats, lens = batch(list(DIMS), 6, [6, 3])
    with torch.no_grad():
        torch.testing.assert_close(again(feats, lens), net(feats, lens))


# -- learning --------------------------------------------------------------------------------


def planted_data(n: int, seed: int):
    """Unaligned-length data whose labels are signs of per-modality feature means."""
    g = torch.Generator().manual_seed(seed)
    steps = 6
    lengths = {m: torch.randint(2, steps + 1, (n,), generator=g) for m in DIMS}
    feats, lens = batch(list(DIMS), steps, lengths, seed=seed)
    labels = torch.stack(
        [
            feats["text"][..., 0].sum(1) > 0,
            feats["audio"][..., 1].sum(1) > 0,
            feats["vision"][..., 2].sum(1) + feats["text"][..., 3].sum(1) > 0,
        ],
        dim=1,
    ).float()  # (N, 3)
    return feats, lens, labels


@pytest.mark.parametrize("name", MODELS)
def test_each_baseline_learns_a_planted_problem(name):
    torch.manual_seed(0)
    net = build_model(
        tiny_config(name, dropout=0.0, mult_embed_dropout=0.0, mult_attn_dropout=0.0), DIMS, 0
    )
    net.set_emotions(EMOTIONS)
    feats, lens, labels = planted_data(256, seed=0)
    test_feats, test_lens, test_labels = planted_data(200, seed=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for step in range(40):
        rows = torch.arange(step * 64, step * 64 + 64) % 256
        logits = net({m: x[rows] for m, x in feats.items()}, {m: x[rows] for m, x in lens.items()})
        loss = loss_fn(logits, labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        probs = torch.sigmoid(net(test_feats, test_lens)).numpy()
    metrics = compute_metrics(test_labels.numpy(), probs, EMOTIONS)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert metrics["average"]["auc"] > 0.75
