"""The speed settings: exact unpacked encoders, length-grouped batches, the thread count, the
device and the Ray resources. Behaviour only; the timings live in benchmarks/."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch

from emotrans.cli import build_parser, main
from emotrans.config import RunConfig
from emotrans.data.dataset import Split
from emotrans.experiments.executor import ray_resources
from emotrans.models.encoders import RNNEncoder
from emotrans.models.transferable import TransferableModel
from emotrans.training import threads
from emotrans.training.batches import TensorSplit
from emotrans.training.inference import resolve_device
from emotrans.training.trainer import Trainer

ENCODER_CASES = list(
    itertools.product(("lstm", "gru"), ("last", "final", "mean"), (1, 2), (True, False))
)


def _left_padded(b: int, t: int, d: int, lengths: list[int], seed: int = 0) -> torch.Tensor:
    x = torch.randn(b, t, d, generator=torch.Generator().manual_seed(seed))  # (B, T, D)
    valid = torch.arange(t).unsqueeze(0) >= (t - torch.tensor(lengths)).unsqueeze(1)  # (B, T)
    return x * valid.unsqueeze(2)


@pytest.mark.parametrize("cell,pooling,layers,bidirectional", ENCODER_CASES)
def test_aligned_encoder_computes_the_packed_function(cell, pooling, layers, bidirectional):
    torch.manual_seed(0)
    packed = RNNEncoder(7, 5, layers, 0.15, cell, bidirectional, "sum", pooling, "packed")
    aligned = RNNEncoder(7, 5, layers, 0.15, cell, bidirectional, "sum", pooling, "aligned")
    aligned.load_state_dict(packed.state_dict())  # same parameters, same names
    lengths = [9, 3, 0, 1, 5, 8]
    x = _left_padded(6, 9, 7, lengths)
    with torch.no_grad():
        want = packed.eval()(x, torch.tensor(lengths))  # (B, H)
        got = aligned.eval()(x, torch.tensor(lengths))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert torch.count_nonzero(got[2]) == 0  # an empty row encodes to zeros


def test_aligned_encoder_output_never_depends_on_padding():
    torch.manual_seed(0)
    enc = RNNEncoder(4, 6, 2, 0.0, "lstm", True, "sum", "last", "aligned").eval()
    lengths = torch.tensor([3, 5])
    x = _left_padded(2, 5, 4, [3, 5])
    longer = torch.cat([torch.zeros(2, 4, 4), x], 1)  # four more padded steps in front
    noisy = x.clone()
    noisy[0, :2] = 7.0  # the padding of row 0 holds garbage
    with torch.no_grad():
        base = enc(x, lengths)
        torch.testing.assert_close(enc(longer, lengths), base, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(enc(noisy, lengths), base, rtol=1e-5, atol=1e-6)
        alone = enc(x[:1, 2:], torch.tensor([3]))  # row 0 cropped to its valid steps
    torch.testing.assert_close(alone[0], base[0], rtol=1e-5, atol=1e-6)


def test_aligned_encoder_gradients_match_packed():
    torch.manual_seed(0)
    packed = RNNEncoder(5, 4, 2, 0.0, "lstm", True, "sum", "last", "packed")
    aligned = RNNEncoder(5, 4, 2, 0.0, "lstm", True, "sum", "last", "aligned")
    aligned.load_state_dict(packed.state_dict())
    lengths = torch.tensor([6, 2, 4])
    x = _left_padded(3, 6, 5, [6, 2, 4])
    packed(x, lengths).sum().backward()
    aligned(x, lengths).sum().backward()
    for (name, p), q in zip(packed.named_parameters(), aligned.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


def _split(n: int, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    t, lengths = 8, rng.integers(0, 9, n)
    feats = {}
    for m, d in (("text", 16), ("audio", 5), ("vision", 3)):
        x = rng.standard_normal((n, t, d)).astype(np.float32)
        x[np.arange(t)[None, :] < (t - lengths)[:, None]] = 0
        feats[m] = x
    return Split(
        features=feats,
        lengths={m: lengths.astype(np.int64) for m in feats},
        labels=(rng.random((n, 3)) < 0.3).astype(np.uint8),
        ids=np.array([str(i) for i in range(n)]),
    )


def test_length_grouped_order_is_a_seeded_permutation_of_similar_lengths():
    data = TensorSplit.from_split(_split(203), ("text", "audio", "vision"))
    order = data.length_grouped_order(16, torch.Generator().manual_seed(1), pool=4)
    again = data.length_grouped_order(16, torch.Generator().manual_seed(1), pool=4)
    other = data.length_grouped_order(16, torch.Generator().manual_seed(2), pool=4)
    assert sorted(order.tolist()) == list(range(203))
    assert torch.equal(order, again) and not torch.equal(order, other)
    lengths = data.lengths["text"]
    spread = [int(lengths[b].max() - lengths[b].min()) for b in order[:192].split(16)]
    random_spread = [
        int(lengths[b].max() - lengths[b].min())
        for b in torch.randperm(203, generator=torch.Generator().manual_seed(1))[:192].split(16)
    ]
    assert np.mean(spread) < np.mean(random_spread) / 2


def test_batches_by_length_cover_every_sample_once():
    data = TensorSplit.from_split(_split(50), ("text",))
    seen = []
    for _, lens, labels in data.batches(8, True, torch.Generator().manual_seed(0), by_length=True):
        assert labels.shape[0] == lens["text"].shape[0] <= 8
        seen.append(labels.shape[0])
    assert sum(seen) == 50


def _fit(padding: str, batching: str, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    model = TransferableModel(
        ("text", "audio", "vision"),
        {"text": 16, "audio": 5, "vision": 3},
        16,
        {"audio": 8, "vision": 4},
        num_layers=2,
        padding=padding,
    )
    model.set_emotions(["a", "b", "c"], np.eye(3, 16, dtype=np.float32))
    cfg = RunConfig(epochs=2, batch_size=16, seed=seed, batching=batching, device="cpu")
    fit = Trainer(cfg).fit(model, _split(96), _split(32, seed=1))
    return [row["train_loss"] for row in fit.history] + [row["valid_loss"] for row in fit.history]


@pytest.mark.parametrize(
    "padding,batching",
    [("aligned", "random"), ("aligned", "length"), ("packed", "random"), ("reference", "random")],
)
def test_each_padding_and_batching_is_deterministic_for_a_seed(padding, batching):
    assert _fit(padding, batching) == _fit(padding, batching)


def test_auto_threads_leave_the_cores_other_work_keeps_busy():
    assert threads.auto_threads(cores=2, busy=0.1) == 2
    assert threads.auto_threads(cores=2, busy=1.0) == 1  # one competing CPU-bound process
    assert threads.auto_threads(cores=2, busy=6.0) == 1  # never fewer than one
    assert threads.auto_threads(cores=8, busy=2.2) == 6
    assert 1 <= threads.usable_cores() <= (torch.get_num_threads() + 64)


def test_the_automatic_thread_choice_is_made_and_logged_once(monkeypatch, caplog):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "busy_cores", lambda interval=0.2: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    try:
        with caplog.at_level(logging.INFO, logger="emotrans.training.threads"):
            assert threads.apply_threads(0) == 1
            assert threads.apply_threads(0) == 1
        assert len([r for r in caplog.records if "torch threads" in r.getMessage()]) == 1
        assert threads.apply_threads(2) == 2 == torch.get_num_threads()  # as given
        assert threads.apply_threads(0) == 2  # a count set before is kept
    finally:
        torch.set_num_threads(before)


def test_a_thread_count_in_the_environment_is_respected(monkeypatch):
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(threads, "busy_cores", lambda interval=0.2: pytest.fail("sampled"))
    assert threads.apply_threads(0) == torch.get_num_threads()


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--out", "R"],
        ["evaluate", "RUN"],
        ["predict", "RUN"],
        ["demo"],
        ["reproduce", "G", "--data", "D", "--out", "O"],
    ],
)
def test_every_command_that_trains_or_predicts_takes_threads(command):
    args = build_parser().parse_args([*command, "--threads", "1"])
    threads_given = getattr(args, "threads", None)
    if threads_given is None:
        threads_given = args.cfg_threads
    assert int(threads_given) == 1


def test_device_auto_is_the_default_and_picks_the_cpu_without_cuda():
    assert RunConfig().device == "auto"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line_before_any_data_is_read(tmp_path, capsys):
    missing = tmp_path / "no-such-data"
    rc = main(["train", "--data", str(missing), "--device", "cuda", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    last = err.splitlines()[-1]  # the error, after the line announcing the run
    assert last.startswith("emotrans: error: device = 'cuda'") and "CUDA" in last
    assert "no-such-data" not in last  # the data were never opened


def test_amp_scales_the_loss_only_on_cuda():
    assert Trainer(RunConfig(precision="amp", device="cpu")).scaler is None
    assert Trainer(RunConfig(precision="fp32", device="cpu")).scaler is None


@pytest.mark.parametrize("device,gpus", [("cuda", 1), ("cuda:1", 1), ("auto", 0), ("cpu", 0)])
def test_ray_asks_for_a_gpu_only_for_cuda_runs(device, gpus):
    resources = ray_resources(RunConfig(device=device).to_dict(), threads=3)
    assert resources == {"num_cpus": 3, "num_gpus": gpus}


def test_prediction_in_length_order_returns_rows_in_sample_order():
    from emotrans.training.inference import predict_logits

    torch.manual_seed(0)
    model = TransferableModel(
        ("text", "audio", "vision"),
        {"text": 16, "audio": 5, "vision": 3},
        16,
        {"audio": 8, "vision": 4},
    )
    model.set_emotions(["a", "b", "c"], np.eye(3, 16, dtype=np.float32))
    data = TensorSplit.from_split(_split(40), model.modalities)
    together = predict_logits(model, data, batch_size=7)  # (N, K), scored in length order
    for i in (0, 13, 39):
        alone = TensorSplit.from_split(_split(40).subset(np.array([i])), model.modalities)
        np.testing.assert_allclose(predict_logits(model, alone)[0], together[i], atol=1e-5)
