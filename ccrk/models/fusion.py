"""Fusion layers 6-11: BERT post-LN blocks with cross-attention to the image tokens (SPEC §2.2).

Written here rather than taken from transformers, whose non-decoder XLM-R layers refuse
cross-attention and whose decoder mode is causal. Module names follow BERT, so that the original
checkpoints map key for key.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None) -> torch.Tensor:
        b, lq, d = x.shape
        split = lambda t: t.view(b, t.shape[1], self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(kv)), split(self.value(kv))
        mask = None if kv_mask is None else kv_mask[:, None, None, :].bool()  # [B, 1, 1, Lkv], True = attend
        p = self.dropout if self.training else 0.0
        if q.is_cuda:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:  # CPU: the plain product is about 2x faster than SDPA's kernel at these head sizes
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out = F.dropout(scores.softmax(dim=-1), p) @ v
        return out.transpose(1, 2).reshape(b, lq, d)


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

    def forward(self, x, kv, kv_mask):
        return self.output(self.self(x, kv, kv_mask), x)


class Intermediate(nn.Module):
    """BERT's FFN expansion with GELU (key `intermediate.dense`, as in BERT)."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class FusionLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, encoder_width: int, eps: float, dropout: float):
        super().__init__()
        self.attention = AttentionBlock(hidden, heads, hidden, eps, dropout)
        self.crossattention = AttentionBlock(hidden, heads, encoder_width, eps, dropout)
        self.intermediate = Intermediate(hidden, intermediate)
        self.output = AddNorm(intermediate, hidden, eps, dropout)

    def forward(self, text, text_mask, image, image_mask=None, first_only: bool = False):
        # first_only: outputs for token 0 alone (it still attends to every token): what ITM reads
        x = self.attention(text[:, :1] if first_only else text, text, text_mask)  # bidirectional over the text
        x = self.crossattention(x, image, image_mask)
        return self.output(self.intermediate(x), x)


class FusionEncoder(nn.Module):
    def __init__(self, n_layers: int, hidden: int, heads: int, intermediate: int, encoder_width: int,
                 eps: float, dropout: float):
        super().__init__()
        self.layer = nn.ModuleList(
            FusionLayer(hidden, heads, intermediate, encoder_width, eps, dropout) for _ in range(n_layers)
        )

    def forward(self, text, text_mask, image, image_mask=None, first_only: bool = False):
        """[B, L, H] states, or [B, 1, H] with first_only (the last layer computes token 0 only)."""
        for i, layer in enumerate(self.layer):
            text = layer(text, text_mask, image, image_mask, first_only and i == len(self.layer) - 1)
        return text
