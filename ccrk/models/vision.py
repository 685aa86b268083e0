"""Image encoder: timm Swin returning [average-pooled token] + patch tokens (docs/method.md#vision-encoder)."""

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
        if cfg.absolute_pos_embed:  # Microsoft Swin's `ape`, same name and shape: [1, patches, embed_dim]
            side = cfg.image_res // cfg.patch_size
            self.swin.absolute_pos_embed = nn.Parameter(torch.zeros(1, side * side, cfg.embed_dim))
            nn.init.trunc_normal_(self.swin.absolute_pos_embed, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.swin.patch_embed(images)  # [B, H, W, C]
        if hasattr(
            self.swin, "absolute_pos_embed"
        ):  # without it, pooled features barely see where things are
            x = x + self.swin.absolute_pos_embed.view(1, *x.shape[1:])
        x = self.swin.norm(self.swin.layers(x))  # timm's forward_features, with the position added
        x = x.flatten(1, 2)  # [B, H*W, C]
        return torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)  # [B, 1+H*W, C], token 0 = average
