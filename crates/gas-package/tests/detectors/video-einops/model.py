"""Synthetic video detector: per-frame timm CNN features + temporal transformer (einops)."""
from enum import Enum
from typing import Optional

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, reduce
from einops.layers.torch import Rearrange
from safetensors.torch import load_file
from torch.utils.checkpoint import checkpoint


class Pool(Enum):
    MEAN = "mean"
    CLS = "cls"


class TemporalDetector(nn.Module):
    def __init__(self, num_classes: int = 2, frames: int = 16, pool: Pool = Pool.CLS) -> None:
        super().__init__()
        self.encoder = timm.create_model("efficientnet_b0", pretrained=False, num_classes=0, global_pool="avg")
        dim = self.encoder.num_features
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, frames + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, nhead=8, dim_feedforward=dim * 2, batch_first=True)
        self.temporal = nn.TransformerEncoder(layer, num_layers=2)
        self.to_frames = Rearrange("b t c h w -> (b t) c h w")
        self.pool = pool
        self.head = nn.Linear(dim, num_classes)
        self.use_checkpoint = False

    def forward(self, clips: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, t = clips.shape[:2]
        x = self.to_frames(clips.float() / 255.0)
        feats = checkpoint(self.encoder, x, use_reentrant=False) if self.use_checkpoint else self.encoder(x)
        feats = rearrange(feats, "(b t) d -> b t d", b=b, t=t)
        tokens = torch.cat([self.cls.expand(b, -1, -1), feats], dim=1) + self.pos[:, : t + 1]
        with torch.autocast(device_type="cuda", enabled=torch.cuda.is_available()):
            out = self.temporal(tokens)
        pooled = out[:, 0] if self.pool is Pool.CLS else reduce(out[:, 1:], "b t d -> b d", "mean")
        return self.head(F.layer_norm(pooled, pooled.shape[-1:]))


def load_model(weights_path, num_classes=2, **kwargs):
    model = TemporalDetector(num_classes, frames=int(kwargs.get("max_frames", 16)))
    model.load_state_dict(load_file(weights_path))
    model.eval()
    return model
