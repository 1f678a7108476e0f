"""Recurrent sequence encoders shared by the transferable model and the LSTM baselines.

Inputs are left zero padded (valid steps at the end of each row, as in the CMU-MOSEI and MulT
files). By default (``padding="packed"``) the encoder moves each row's valid steps to the front
and packs the batch, so padding never changes an output: a row's vector depends only on its
valid steps. ``padding="reference"`` runs the padded rows through the RNN as they are, as the
reference code does: the forward direction then also reads the leading zeros, and on CPU this
is faster when lengths vary (packed RNNs step through shrinking batches one step at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emotrans.config import DROPOUT, POSITIVE, setting

POOLINGS = ("last", "final", "mean")
PADDINGS = ("packed", "reference")
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
        "packed",
        "padded steps: 'packed' (exact, outputs depend only on valid steps) or 'reference' "
        "(run through the RNN as the reference code does; faster when lengths vary)",
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
    padding : ``"packed"`` (exact: padding never changes an output) or ``"reference"`` (the
        padded sequence runs through the RNN, as in the reference code; see the module notes)
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
        padding: str = "packed",
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
