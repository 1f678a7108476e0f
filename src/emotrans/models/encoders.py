"""Recurrent sequence encoders shared by the transferable model and the LSTM baselines.

Inputs are left zero padded (valid steps at the end of each row, as in the CMU-MOSEI and MulT
files). With ``padding="packed"`` the encoder moves each row's valid steps to the front and
packs the batch, so padding never changes an output: a row's vector depends only on its valid
steps. ``padding="reference"`` runs the padded rows through the RNN as they are, as the
reference code does: the forward direction then also reads the leading zeros, and on CPU this
is faster when lengths vary (packed RNNs step through shrinking batches one step at a time).

``padding="aligned"`` (the default) is exact like ``packed`` but never packs: each direction of
each layer runs as one unpacked, unidirectional pass over rows whose valid steps come first (in
reading order for the forward direction, reversed for the backward one), so a valid step only
ever sees valid steps before it in its own direction; whatever the padded tail computes is
never read. The batch is first cropped to its longest row. Unpacked passes use PyTorch's fused CPU
kernels (oneDNN), which is why this mode runs at the reference code's speed, and why bf16
autocast reaches its LSTMs (packed LSTMs stay in fp32 under CPU autocast).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emotrans.config import DROPOUT, POSITIVE, setting

POOLINGS = ("last", "final", "mean")
PADDINGS = ("packed", "aligned", "reference")
CELLS = ("lstm", "gru")


@dataclass(frozen=True)
class EncoderSettings:
    """Settings of the recurrent encoders, shared by the models built on :class:`RNNEncoder`
    (their ``Settings`` extend this class, so the names and flags are the same in each)."""

    rnn: str = setting("lstm", "recurrent cell of the encoders", CELLS)
    layers: int = setting(2, "recurrent layers per encoder", valid=POSITIVE)
    dropout: float = setting(0.15, "dropout between recurrent layers", valid=DROPOUT)
    pooling: str = setting("last", "utterance vector from the encoder outputs", POOLINGS)
    padding: str = setting(
        "aligned",
        "padded steps: 'packed' (exact, outputs depend only on valid steps), 'aligned' (exact, "
        "unpacked passes per direction: the reference code's speed) or 'reference' (run "
        "through the RNN as the reference code does)",
        PADDINGS,
    )


def left_to_right_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move the last ``lengths[i]`` steps of row i to the front.

    Parameters
    ----------
    x : tensor (B, T, D), left zero padded
    lengths : int64 tensor (B,)

    Returns
    -------
    tensor (B, T, D) whose first ``lengths[i]`` steps are row i's valid steps, in order.
    """
    b, t, d = x.shape
    shift = (t - lengths).unsqueeze(1)  # (B, 1)
    index = (torch.arange(t, device=x.device).unsqueeze(0) + shift) % t  # (B, T)
    return x.gather(1, index.unsqueeze(2).expand(b, t, d))


def _reverse_valid_index(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B, T) gather index that reverses the first ``lengths[i]`` steps of row i in place and
    keeps the rest where they are (an involution: applying it twice is the identity)."""
    steps = torch.arange(t, device=lengths.device).unsqueeze(0)  # (1, T)
    valid = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(steps < valid, valid - 1 - steps, steps)  # (B, T)


class RNNEncoder(nn.Module):
    """A multi-layer (bi)directional LSTM or GRU that turns a sequence into one vector.

    Parameters
    ----------
    input_size, hidden_size : feature and hidden dimensions
    num_layers : stacked layers
    dropout : dropout between layers (ignored with one layer)
    cell : ``"lstm"`` or ``"gru"``
    bidirectional : run both directions
    combine : ``"sum"`` adds the two directions (output size H, the paper's choice) or
        ``"concat"`` concatenates them (output size 2H)
    pooling : ``"last"`` the output at the last valid step (the reference behaviour; note the
        backward direction has seen one frame there), ``"final"`` the final hidden states of
        both directions, ``"mean"`` the mean of the outputs over the valid steps
    padding : ``"packed"`` or ``"aligned"`` (exact: padding never changes an output) or
        ``"reference"`` (the padded sequence runs through the RNN, as in the reference code);
        see the module notes
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 2,
        dropout: float = 0.15,
        cell: str = "lstm",
        bidirectional: bool = True,
        combine: str = "sum",
        pooling: str = "last",
        padding: str = "aligned",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if cell not in CELLS:
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_class(
            input_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.combine = combine
        self.pooling = pooling
        self.padding = padding
        self.output_size = hidden_size * (self.directions if combine == "concat" else 1)

    def _merge(self, h: torch.Tensor) -> torch.Tensor:
        """(..., directions * H) -> (..., H) summed or (..., directions * H) concatenated."""
        if self.directions == 1 or self.combine == "concat":
            return h
        return h.unflatten(-1, (self.directions, self.hidden_size)).sum(-2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` (B, T, D) with valid ``lengths`` (B,) into (B, output_size)."""
        b, t, _ = x.shape
        lengths = lengths.to(torch.int64)
        full = bool((lengths == t).all())
        valid = None
        if self.padding == "aligned" and not full:
            return self._aligned(x, lengths)
        if full or self.padding == "reference":
            out, state = self.rnn(x)  # out: (B, T, dirs*H)
            last = out[:, -1]  # (B, dirs*H), the last valid step of left-padded rows
        else:
            safe = lengths.clamp(min=1)
            packed = pack_padded_sequence(
                left_to_right_padded(x, lengths), safe.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(
                packed_out, batch_first=True, total_length=t
            )  # (B, T, dirs*H), valid steps first
            last = out[torch.arange(b, device=x.device), safe - 1]  # (B, dirs*H)
            valid = (lengths > 0).to(out.dtype).unsqueeze(1)  # (B, 1)
        if self.pooling == "last":
            vec = last
        elif self.pooling == "final":
            h_n = state[0] if self.cell == "lstm" else state  # (layers*dirs, B, H)
            top = h_n.view(self.num_layers, self.directions, b, self.hidden_size)[
                -1
            ]  # (dirs, B, H)
            vec = top.transpose(0, 1).reshape(b, self.directions * self.hidden_size)  # (B, dirs*H)
        else:
            if full:
                vec = out.mean(1)
            else:
                steps = torch.arange(t, device=x.device).unsqueeze(0)  # (1, T)
                if self.padding == "reference":  # valid steps are the last ones
                    mask = steps >= (t - lengths).unsqueeze(1)
                else:  # valid steps were moved to the front
                    mask = steps < lengths.unsqueeze(1)
                mask = mask.to(out.dtype).unsqueeze(2)  # (B, T, 1)
                vec = (out * mask).sum(1) / lengths.clamp(min=1).to(out.dtype).unsqueeze(1)
        vec = self._merge(vec)  # (B, H) or (B, dirs*H)
        if valid is not None:
            vec = vec * valid  # rows without any valid step encode to zeros
        return vec

    def _weights(self, layer: int, direction: int) -> list[torch.Tensor]:
        """The (w_ih, w_hh, b_ih, b_hh) of one layer and direction of ``self.rnn``."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return [getattr(self.rnn, f"{kind}{suffix}") for kind in _WEIGHT_KINDS]

    def _pass(self, x: torch.Tensor, layer: int, direction: int) -> torch.Tensor:
        """One unidirectional pass of one layer from a zero state: (B, T, D) -> (B, T, H)."""
        h0 = x.new_zeros(1, x.shape[0], self.hidden_size)
        weights, train = self._weights(layer, direction), self.training
        if self.cell == "lstm":
            return torch.lstm(x, (h0, h0), weights, True, 1, 0.0, train, False, True)[0]
        return torch.gru(x, h0, weights, True, 1, 0.0, train, False, True)[0]

    def _aligned(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The exact encoding of left-padded ``x`` (B, T, D) without packing: (B, output_size).

        Each layer runs the forward weights over rows whose valid steps come first in reading
        order and the backward weights over rows whose valid steps come first reversed; a
        valid output therefore depends only on valid steps, as with packed sequences.
        """
        b, t, _ = x.shape
        longest = max(int(lengths.max()), 1)
        safe = lengths.clamp(min=1)
        x = left_to_right_padded(x[:, t - longest :], lengths)  # (B, L, D), valid steps first
        rev = _reverse_valid_index(safe, longest)  # (B, L)
        inputs = [x, x.gather(1, rev.unsqueeze(2).expand_as(x))]  # forward, backward order
        outs: list[torch.Tensor] = []
        for layer in range(self.num_layers):
            outs = [self._pass(inputs[d], layer, d) for d in range(self.directions)]  # (B, L, H)
            if layer == self.num_layers - 1:
                break
            index = rev.unsqueeze(2).expand_as(outs[0])  # (B, L, H)
            out = torch.cat([outs[0], *[o.gather(1, index) for o in outs[1:]]], 2)  # (B, L, dH)
            if self.training and self.rnn.dropout > 0:
                out = nn.functional.dropout(out, self.rnn.dropout, True)
            inputs = [out, out.gather(1, rev.unsqueeze(2).expand_as(out))]
        rows = torch.arange(b, device=x.device)
        if self.pooling == "last":  # forward: last valid step; backward: its first output
            vecs = [outs[0][rows, safe - 1], *[o[:, 0] for o in outs[1:]]]  # (B, H) each
        elif self.pooling == "final":  # both directions' states after their last valid step
            vecs = [o[rows, safe - 1] for o in outs]  # (B, H) each
        else:
            mask = torch.arange(longest, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
            mask = mask.to(outs[0].dtype).unsqueeze(2)  # (B, L, 1)
            count = safe.to(outs[0].dtype).unsqueeze(1)  # (B, 1)
            vecs = [(o * mask).sum(1) / count for o in outs]  # (B, H) each
        vec = self._merge(torch.cat(vecs, 1))  # (B, H) or (B, dirs*H)
        return vec * (lengths > 0).to(vec.dtype).unsqueeze(1)  # empty rows encode to zeros


_WEIGHT_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
