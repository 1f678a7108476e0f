"""MulT baseline: the Multimodal Transformer (Tsai et al., ACL 2019).

For every modality: a temporal 1-D convolution (no bias) projects the features to a common
width d. For every ordered pair of modalities (target <- source) a crossmodal transformer lets
the target's steps attend to the source's steps (queries from the target, keys and values from
the source). For every target, its crossmodal outputs are concatenated ((M - 1) d values per
step) and a self-attention transformer runs over them; its output at the last step is the
target's vector. The targets' vectors are concatenated, passed through a residual projection
block (proj1 -> ReLU -> dropout -> proj2, plus the input) and scored by a head with one output
unit per emotion name.

Choices, following the reference configuration where it states one:

* Every transformer is pre-LayerNorm (the query and the source share the layer's norm), with
  a 4x feed-forward layer (Xavier-uniform weights, zero biases), ReLU, and a final LayerNorm;
  its inputs are scaled by sqrt(width), get sinusoidal positions and embedding dropout. The
  text features also get embedding dropout before the projection. Keys and values come from
  one embedded source (one dropout mask; the reference draws one for each).
* One attention dropout for every transformer (the reference has separate audio and vision
  values for the crossmodal blocks).
* The self-attention transformers have ``max(layers, 3)`` layers, as in the reference.
* Padding: inputs are left zero padded. Padded steps are zeroed, masked as keys (so they never
  reach a valid step) and their outputs are never read; positions count from each row's first
  valid step, so padding does not shift them. The convolution pads ``kernel - 1`` zeros on
  the left, so every step keeps an output and lengths are unchanged (the reference pads
  nothing; with the default kernel 1 both are the same). A row with no valid step in a source
  modality receives nothing from it (the attention output is zeroed); a row with no valid step
  in a target modality contributes a zero vector for that target.
* One modality: there are no crossmodal pairs, so the self-attention transformer runs on the
  modality's projected sequence alone (a plain transformer encoder baseline).
* Works on aligned and unaligned inputs: modalities may have different numbers of steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from emotrans.config import DROPOUT, POSITIVE, setting
from emotrans.errors import ConfigError
from emotrans.models.heads import EmotionHead, HeadModel

SELF_ATTENTION_MIN_LAYERS = 3
# Memory on long unaligned sequences (e.g. IEMOCAP: vision 500 x audio 400 steps, batch 64,
# 10 heads: 128 M attention scores per layer). Attention is computed in blocks of query steps
# of at most ATTENTION_BLOCK_SCORES scores (batch x heads x queries x keys); in training each
# block, and each layer whose attention or feed-forward activation (batch x steps x 4 width)
# exceeds the limits, is checkpointed: only its inputs are kept and the rest is recomputed in
# the backward pass. Short aligned sequences (CMU-MOSEI, T = 20) never reach the limits.
ATTENTION_BLOCK_SCORES = 1 << 21
CHECKPOINT_FFN_ELEMENTS = 1 << 19


def sinusoidal_positions(positions: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal encodings of integer ``positions`` (B, T) as (B, T, width) float32.

    The first half of the channels holds sin(p * f_i), the second half cos(p * f_i), with
    frequencies f_i = 10000^(-i / half) (an odd width gets one zero channel at the end).
    """
    half = width // 2
    freq = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32)
        * (-math.log(10000.0) / max(half, 1))
    )  # (half,)
    angles = positions.to(torch.float32).unsqueeze(-1) * freq  # (B, T, half)
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, T, 2 half)
    if width % 2:
        enc = F.pad(enc, (0, 1))
    return enc


@dataclass(frozen=True)
class MulTSettings:
    """Settings of :class:`MulT` (reference values of Tsai et al. 2019)."""

    mult_dim: int = setting(40, "MulT common width (a multiple of mult_heads)", valid=POSITIVE)
    mult_heads: int = setting(10, "MulT attention heads", valid=POSITIVE)
    mult_layers: int = setting(4, "MulT transformer layers", valid=POSITIVE)
    mult_kernel: int = setting(1, "MulT temporal convolution kernel size", valid=POSITIVE)
    mult_attn_dropout: float = setting(0.25, "MulT attention dropout", valid=DROPOUT)
    mult_relu_dropout: float = setting(0.1, "MulT feed-forward dropout", valid=DROPOUT)
    mult_res_dropout: float = setting(0.1, "MulT residual dropout", valid=DROPOUT)
    mult_out_dropout: float = setting(0.1, "MulT output dropout", valid=DROPOUT)
    mult_embed_dropout: float = setting(0.3, "MulT embedding dropout", valid=DROPOUT)


class _Layer(nn.Module):
    """One pre-LayerNorm transformer layer; cross-attention when a source is given."""

    def __init__(
        self, width: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float
    ) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, dropout=attn_dropout, batch_first=True)
        self.norm_attn = nn.LayerNorm(width)
        self.norm_ffn = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        for fc in (self.fc1, self.fc2):  # as the reference: Xavier-uniform weights, zero bias
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor | None,
        key_mask: torch.Tensor | None,
        gate: torch.Tensor | None,
    ) -> torch.Tensor:
        """x (B, Tq, W), source (B, Tk, W) or None (self-attention) -> (B, Tq, W)."""
        h = self.norm_attn(x)
        kv = h if source is None else self.norm_attn(source)
        a = self._attend(h, kv, key_mask)  # (B, Tq, W)
        if gate is not None:
            a = a * gate  # rows without any valid key receive nothing
        x = x + F.dropout(a, self.res_dropout, self.training)
        h = F.relu(self.fc1(self.norm_ffn(x)))  # (B, Tq, 4W)
        h = self.fc2(F.dropout(h, self.relu_dropout, self.training))  # (B, Tq, W)
        return x + F.dropout(h, self.res_dropout, self.training)

    def _attention(
        self, q: torch.Tensor, kv: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        return self.attn(q, kv, kv, key_padding_mask=key_mask, need_weights=False)[0]

    def _attend(
        self, q: torch.Tensor, kv: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Multi-head attention of q (B, Tq, W) over kv (B, Tk, W), in query blocks if large.

        Query steps attend independently, so blocks give the same result as one call. With
        gradients on, each block is checkpointed: only its inputs are kept and its attention
        matrix is recomputed (with the same dropout mask) during the backward pass.
        """
        b, tq, _ = q.shape
        per_query = b * self.attn.num_heads * kv.shape[1]
        if per_query * tq <= ATTENTION_BLOCK_SCORES:
            return self._attention(q, kv, key_mask)
        rows = max(1, ATTENTION_BLOCK_SCORES // per_query)
        recompute = torch.is_grad_enabled()
        blocks = []
        for start in range(0, tq, rows):
            block = q[:, start : start + rows]  # (B, rows, W)
            if recompute:
                out = checkpoint(self._attention, block, kv, key_mask, use_reentrant=False)
            else:
                out = self._attention(block, kv, key_mask)
            blocks.append(out)
        return torch.cat(blocks, dim=1)  # (B, Tq, W)


class _Transformer(nn.Module):
    """A stack of :class:`_Layer` with input scaling, positions, embedding dropout, final norm."""

    def __init__(
        self,
        width: int,
        heads: int,
        layers: int,
        attn_dropout: float,
        relu_dropout: float,
        res_dropout: float,
        embed_dropout: float,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _Layer(width, heads, attn_dropout, relu_dropout, res_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(width)
        self.scale = math.sqrt(width)
        self.embed_dropout = embed_dropout

    def _embed(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        x = self.scale * x + positions.to(x.dtype)
        return F.dropout(x, self.embed_dropout, self.training)

    def _large(self, x: torch.Tensor, source: torch.Tensor | None) -> bool:
        """Whether a layer's activations on ``x`` are worth recomputing instead of keeping."""
        b, tq, width = x.shape
        tk = tq if source is None else source.shape[1]
        heads = self.layers[0].attn.num_heads if len(self.layers) else 1
        return (
            b * heads * tq * tk > ATTENTION_BLOCK_SCORES
            or b * tq * 4 * width > CHECKPOINT_FFN_ELEMENTS
        )

    def forward(
        self,
        x: torch.Tensor,
        x_pos: torch.Tensor,
        x_pad: torch.Tensor | None,
        source: torch.Tensor | None = None,
        source_pos: torch.Tensor | None = None,
        source_pad: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encode ``x`` (B, Tq, W); with ``source`` (B, Tk, W), attend to it instead of itself.

        ``*_pos`` are positional encodings of the same shapes; ``*_pad`` (B, T) are True at
        padded steps, or None when no row has padding.
        """
        x = self._embed(x, x_pos)
        src = None if source is None else self._embed(source, source_pos)
        key_mask = x_pad if source is None else source_pad
        gate = None
        if key_mask is not None:
            empty = key_mask.all(1)  # (B,) rows without any valid key
            if bool(empty.any()):
                key_mask = key_mask & ~empty.unsqueeze(1)  # avoid an all -inf softmax
                gate = (~empty).to(x.dtype).view(-1, 1, 1)
        recompute = torch.is_grad_enabled() and self._large(x, src)
        for layer in self.layers:
            if recompute:
                x = checkpoint(layer, x, src, key_mask, gate, use_reentrant=False)
            else:
                x = layer(x, src, key_mask, gate)
        return self.norm(x)  # (B, Tq, W)


class MulT(HeadModel):
    """The Multimodal Transformer baseline (see the module docstring for the architecture).

    Parameters
    ----------
    modalities : subset of ("text", "audio", "vision"), canonical order
    dims : feature dimension D per modality
    width : common width d (reference 40); must be a multiple of ``heads``
    heads : attention heads (reference 10)
    layers : crossmodal transformer layers (reference 4); self-attention ones use max(layers, 3)
    kernel : temporal convolution kernel size (reference 1)
    attn_dropout, relu_dropout, res_dropout, out_dropout, embed_dropout : dropouts (reference
        0.25, 0.1, 0.1, 0.1, 0.3)
    """

    name = "mult"
    description = "Multimodal Transformer: crossmodal attention between every modality pair"
    uses_embeddings = False
    Settings = MulTSettings

    def __init__(
        self,
        modalities: Sequence[str],
        dims: dict[str, int],
        width: int = 40,
        heads: int = 10,
        layers: int = 4,
        kernel: int = 1,
        attn_dropout: float = 0.25,
        relu_dropout: float = 0.1,
        res_dropout: float = 0.1,
        out_dropout: float = 0.1,
        embed_dropout: float = 0.3,
    ) -> None:
        super().__init__(modalities)
        if width % heads:
            raise ConfigError(
                f"mult: the width ({width}) must be a multiple of the attention heads ({heads})"
            )
        self.width = width
        self.kernel = kernel
        self.out_dropout = out_dropout
        self.embed_dropout = embed_dropout
        self.project = nn.ModuleDict(
            {m: nn.Conv1d(dims[m], width, kernel, bias=False) for m in self.modalities}
        )
        drops = (attn_dropout, relu_dropout, res_dropout, embed_dropout)
        self.crossmodal = nn.ModuleDict(
            {
                _pair(t, s): _Transformer(width, heads, layers, *drops)
                for t in self.modalities
                for s in self.modalities
                if s != t
            }
        )
        m_count = len(self.modalities)
        self.target_width = width * max(m_count - 1, 1)
        self_layers = max(layers, SELF_ATTENTION_MIN_LAYERS)
        self.self_attention = nn.ModuleDict(
            {
                t: _Transformer(self.target_width, heads, self_layers, *drops)
                for t in self.modalities
            }
        )
        combined = m_count * self.target_width
        self.proj1 = nn.Linear(combined, combined)
        self.proj2 = nn.Linear(combined, combined)
        self.head = EmotionHead(combined)

    @classmethod
    def from_settings(
        cls,
        settings: MulTSettings,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
    ) -> MulT:
        return cls(
            modalities,
            dims,
            width=settings.mult_dim,
            heads=settings.mult_heads,
            layers=settings.mult_layers,
            kernel=settings.mult_kernel,
            attn_dropout=settings.mult_attn_dropout,
            relu_dropout=settings.mult_relu_dropout,
            res_dropout=settings.mult_res_dropout,
            out_dropout=settings.mult_out_dropout,
            embed_dropout=settings.mult_embed_dropout,
        )

    def _project(self, m: str, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """Features (B, T, D) -> (B, T, d) by the temporal convolution, padding zeroed first."""
        if pad is not None:
            x = x.masked_fill(pad.unsqueeze(2), 0.0)
        if m == "text":
            x = F.dropout(x, self.embed_dropout, self.training)
        conv = self.project[m]
        if self.kernel == 1:
            return F.linear(x, conv.weight.squeeze(2))  # (B, T, d), same as the convolution
        x = F.pad(x.transpose(1, 2), (self.kernel - 1, 0))  # (B, D, T + k - 1)
        return conv(x).transpose(1, 2)  # (B, T, d)

    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        h: dict[str, torch.Tensor] = {}
        pad: dict[str, torch.Tensor | None] = {}
        positions: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            x = features[m]
            b, t, _ = x.shape
            steps = torch.arange(t, device=x.device).unsqueeze(0)  # (1, T)
            first = (t - lengths[m].to(x.device)).unsqueeze(1)  # (B, 1) first valid step
            padded = steps < first  # (B, T)
            pad[m] = padded if bool(padded.any()) else None
            positions[m] = (steps - first).clamp(min=0)  # (B, T), 0 at the first valid step
            h[m] = self._project(m, x, pad[m])  # (B, T_m, d)

        encodings: dict[tuple[str, int], torch.Tensor] = {}

        def pe(m: str, width: int) -> torch.Tensor:
            if (m, width) not in encodings:
                encodings[(m, width)] = sinusoidal_positions(positions[m], width)
            return encodings[(m, width)]  # (B, T_m, width)

        vectors = []
        for t in self.modalities:
            sources = [s for s in self.modalities if s != t]
            if sources:
                crossed = [
                    self.crossmodal[_pair(t, s)](
                        h[t], pe(t, self.width), pad[t], h[s], pe(s, self.width), pad[s]
                    )  # (B, T_t, d)
                    for s in sources
                ]
                seq = torch.cat(crossed, dim=2)  # (B, T_t, (M-1) d)
            else:
                seq = h[t]  # (B, T_t, d)
            out = self.self_attention[t](seq, pe(t, self.target_width), pad[t])  # (B, T_t, w)
            last = out[:, -1]  # (B, w): left padding puts every row's last valid step here
            if pad[t] is not None:
                last = last * (lengths[t] > 0).to(last.dtype).unsqueeze(1)
            vectors.append(last)
        joint = torch.cat(vectors, dim=1)  # (B, M w)
        hidden = F.dropout(F.relu(self.proj1(joint)), self.out_dropout, self.training)
        joint = joint + self.proj2(hidden)  # (B, M w)
        return self.head(joint)  # (B, K)


def _pair(target: str, source: str) -> str:
    return f"{target}_from_{source}"
