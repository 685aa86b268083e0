"""Image encoder: timm Swin Transformer returning [average-pooled token] + patch tokens (SPEC §2.1)."""

import torch
from timm.models.swin_transformer import SwinTransformer
from torch import nn

from ccrk.models.config import VisionConfig


class VisionEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.swin = SwinTransformer(
            img_size=cfg.image_res,
            patch_size=cfg.patch_size,
            num_classes=0,
            embed_dim=cfg.embed_dim,
            depths=tuple(cfg.depths),
            num_heads=tuple(cfg.num_heads),
            window_size=cfg.window_size,
            drop_path_rate=cfg.drop_path_rate,
        )
        self.width = cfg.width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.swin.forward_features(images)  # [B, H, W, C], final LayerNorm applied
        x = x.flatten(1, 2)  # [B, H*W, C]
        return torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)  # [B, 1+H*W, C], token 0 = average
