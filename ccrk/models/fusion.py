"""Fusion layers 6-11: BERT post-LN blocks with cross-attention to the image tokens.

Shapes: docs/method.md#text-and-fusion-encoder.

Written here rather than taken from transformers, whose non-decoder XLM-R layers refuse
cross-attention and whose decoder mode is causal. Module names follow BERT, so that the original
checkpoints map key for key.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    sdpa_on_cpu = (
        False  # CPU: the plain product was about 2x faster than SDPA's kernel at the demo's head sizes
    )

    def __init__(self, hidden: int, heads: int, kv_width: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """[B, L, H] -> [B, heads, L, H / heads]."""
        return t.view(t.shape[0], t.shape[1], self.heads, -1).transpose(1, 2)

    def project_q(self, x: torch.Tensor) -> torch.Tensor:
        return self.split_heads(self.query(x))

    def project_kv(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split_heads(self.key(kv)), self.split_heads(self.value(kv))

    def attend(self, q, k, v, kv_mask: torch.Tensor | None) -> torch.Tensor:
        """Attention of projected heads q [B, h, Lq, d] over k, v [B, h, Lkv, d]; output [B, Lq, h * d]."""
        b, _, lq, _ = q.shape
        mask = None if kv_mask is None else kv_mask[:, None, None, :].bool()  # [B, 1, 1, Lkv], True = attend
        p = self.dropout if self.training else 0.0
        if q.is_cuda or self.sdpa_on_cpu:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out = F.dropout(scores.softmax(dim=-1), p) @ v
        return out.transpose(1, 2).reshape(b, lq, -1)

    def forward(self, x, kv, kv_mask, q=None, keys_values=None) -> torch.Tensor:
        # q / keys_values: projections computed beforehand (once per text / per image in retrieval)
        q = self.project_q(x) if q is None else q
        k, v = self.project_kv(kv) if keys_values is None else keys_values
        return self.attend(q, k, v, kv_mask)


class AddNorm(nn.Module):
    """BERT's output block: dense, dropout, residual, LayerNorm."""

    def __init__(self, in_width: int, hidden: int, eps: float, dropout: float):
        super().__init__()
        self.dense = nn.Linear(in_width, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class AttentionBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int, eps: float, dropout: float):
        super().__init__()
        self.self = MultiHeadAttention(hidden, heads, kv_width, dropout)
        self.output = AddNorm(hidden, hidden, eps, dropout)

    def forward(self, x, kv, kv_mask, q=None, keys_values=None):
        return self.output(self.self(x, kv, kv_mask, q, keys_values), x)


class Intermediate(nn.Module):
    """BERT's FFN expansion with GELU (key `intermediate.dense`, as in BERT)."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class FusionLayer(nn.Module):
    def __init__(
        self, hidden: int, heads: int, intermediate: int, encoder_width: int, eps: float, dropout: float
    ):
        super().__init__()
        self.attention = AttentionBlock(hidden, heads, hidden, eps, dropout)
        self.crossattention = AttentionBlock(hidden, heads, encoder_width, eps, dropout)
        self.intermediate = Intermediate(hidden, intermediate)
        self.output = AddNorm(intermediate, hidden, eps, dropout)

    def forward(self, text, text_mask, image, image_mask=None, first_only: bool = False, image_kv=None):
        # first_only: outputs for token 0 alone (it still attends to every token): what ITM reads
        return self.cross_ffn(
            self.text_part(text, text_mask, first_only), image, image_mask, image_kv=image_kv
        )

    def text_part(self, text, text_mask, first_only: bool = False) -> torch.Tensor:
        """Self-attention + AddNorm: bidirectional over the text, independent of the image."""
        return self.attention(text[:, :1] if first_only else text, text, text_mask)

    def cross_ffn(self, x, image, image_mask=None, q=None, image_kv=None) -> torch.Tensor:
        """Cross-attention to the image, then the FFN; q / image_kv: its projections, if computed beforehand."""
        x = self.crossattention(x, image, image_mask, q, image_kv)
        return self.output(self.intermediate(x), x)


class FusionEncoder(nn.Module):
    def __init__(
        self,
        n_layers: int,
        hidden: int,
        heads: int,
        intermediate: int,
        encoder_width: int,
        eps: float,
        dropout: float,
    ):
        super().__init__()
        self.layer = nn.ModuleList(
            FusionLayer(hidden, heads, intermediate, encoder_width, eps, dropout) for _ in range(n_layers)
        )

    def forward(
        self, text, text_mask, image, image_mask=None, first_only: bool = False, image_kv=None, prefix=None
    ):
        """[B, L, H] states, or [B, 1, H] with first_only (the last layer computes token 0 only).

        For many pairs over few images and texts (retrieval re-ranking), the pair-independent parts can be
        given precomputed: image_kv = `image_kv(image)` (then `image` may be None) and prefix =
        `text_prefix(text, text_mask)` (then `text` may be None), both indexed to the pairs.
        """
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            kv = None if image_kv is None else image_kv[i]
            if i == 0 and prefix is not None:
                text = layer.cross_ffn(prefix[0], image, image_mask, prefix[1], kv)
            else:
                text = layer(text, text_mask, image, image_mask, first_only and i == last, kv)
        return text

    def image_kv(self, image) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every layer's cross-attention keys and values of the image tokens: they depend on the image only."""
        # contiguous heads: rows gathered per pair then multiply about 2x faster on CPU than the transposed view
        return [
            tuple(t.contiguous() for t in layer.crossattention.self.project_kv(image)) for layer in self.layer
        ]

    def text_prefix(self, text, text_mask, first_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer 0's self-attention output and its cross-attention query: they depend on the text only.

        first_only as in forward, for a single layer that is also the last.
        """
        x = self.layer[0].text_part(text, text_mask, first_only and len(self.layer) == 1)
        return x, self.layer[0].crossattention.self.project_q(x).contiguous()
