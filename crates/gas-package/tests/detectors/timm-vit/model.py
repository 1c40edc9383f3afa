"""AI-generated image detector: a timm ViT-S/16 backbone with a small classification head.

Written the way timm-based detectors are: timm.create_model without pretrained weights, timm
layers for the head, torch.jit/fx decorators copied from timm, normalisation inside forward().
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Dict, List, Literal, Optional, Tuple

import numpy as np
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models.vision_transformer import Block

torch.backends.cuda.matmul.allow_tf32 = True
_HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


@dataclass
class HeadConfig:
    hidden: int = 256
    drop: float = 0.1
    pool: Literal["token", "avg"] = "token"
    extra: Dict[str, float] = field(default_factory=dict)


@torch.fx.wrap
def _pool_tokens(x: torch.Tensor, pool: str) -> torch.Tensor:
    return x[:, 0] if pool == "token" else x[:, 1:].mean(dim=1)


class AttentionPool(nn.Module):
    """Learned-query attention pooling over patch tokens."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.kv = nn.Linear(dim, dim * 2)
        trunc_normal_(self.query, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        k, v = self.kv(x).chunk(2, dim=-1)
        q = self.query.expand(b, -1, -1)
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (q, k, v))
        if _HAS_SDPA and not torch.jit.is_scripting():
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            out = attn.softmax(dim=-1) @ v
        return rearrange(out, "b h n d -> b n (h d)").squeeze(1)


class ViTDetector(nn.Module):
    def __init__(
        self,
        num_classes: int = 2,
        img_size: int = 224,
        mean: Tuple[float, ...] = (0.485, 0.456, 0.406),
        std: Tuple[float, ...] = (0.229, 0.224, 0.225),
        cfg: Optional[HeadConfig] = None,
    ) -> None:
        super().__init__()
        cfg = cfg or HeadConfig()
        self.backbone = timm.create_model(
            "vit_small_patch16_224", pretrained=False, num_classes=0, img_size=img_size
        )
        dim = self.backbone.num_features
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.refine = nn.Sequential(
            *[Block(dim, num_heads=6, mlp_ratio=2.0, norm_layer=norm) for _ in range(1)]
        )
        self.pool = AttentionPool(dim)
        self.head = nn.Sequential(
            OrderedDict(
                norm=norm(dim),
                mlp=Mlp(dim, cfg.hidden, num_classes, drop=cfg.drop),
            )
        )
        self.drop_path = DropPath(0.0)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> List[str]:
        return ["pos_embed", "cls_token", "query"]

    def forward(self, images: torch.Tensor) -> "torch.Tensor":
        # images: uint8 [B, 3, H, W] in 0..255
        x = images.float().div_(255.0)
        x = (x - self.mean) / self.std
        if x.shape[-1] != 224 or x.shape[-2] != 224:
            x = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False, antialias=True)
        tokens = self.backbone.forward_features(x)
        tokens = tokens + self.drop_path(self.refine(tokens))
        pooled = self.pool(tokens) + _pool_tokens(tokens, "token")
        return self.head(pooled / math.sqrt(2.0))


def load_model(weights_path: str, num_classes: int = 2, **kwargs) -> nn.Module:
    norm = kwargs.get("normalize") or {}
    model = ViTDetector(
        num_classes=num_classes,
        mean=tuple(norm.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(norm.get("std", (0.229, 0.224, 0.225))),
    )
    state = load_file(weights_path, device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith(("mean", "std"))]:
        raise RuntimeError(f"{model.__class__.__name__}: checkpoint mismatch {unexpected[:3]} {missing[:3]}")
    model.eval()
    assert np.isfinite(float(model.head.norm.eps))
    return model
