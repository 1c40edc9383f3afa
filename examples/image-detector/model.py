"""Example GAS image detector: upsampling-artifact energy + a trained linear head.

Many generators upsample feature maps with nearest-neighbour or transposed convolutions, which
leaves a periodic 2-pixel pattern: neighbouring pixels inside a 2×2 block are nearly equal, pixels
across block borders are not. This model measures the mean absolute difference between
horizontal/vertical neighbours at even and at odd offsets and feeds the log-ratios to a linear
layer. It is deliberately tiny: a template for miners, not a competitive detector.
"""
import torch
import torch.nn as nn
from safetensors.torch import load_file


def parity_features(x: torch.Tensor) -> torch.Tensor:
    """x: float [N, 3, H, W] in 0..1 → [N, 2] log-ratios (odd/even neighbour differences)."""
    gray = x.mean(dim=1)
    dx = (gray[:, :, 1:] - gray[:, :, :-1]).abs()
    dy = (gray[:, 1:, :] - gray[:, :-1, :]).abs()
    eps = 1e-4
    fx = torch.log(dx[:, :, 1::2].mean(dim=(1, 2)) + eps) - torch.log(dx[:, :, 0::2].mean(dim=(1, 2)) + eps)
    fy = torch.log(dy[:, 1::2, :].mean(dim=(1, 2)) + eps) - torch.log(dy[:, 0::2, :].mean(dim=(1, 2)) + eps)
    return torch.stack([fx, fy], dim=1)


class ParityDetector(nn.Module):
    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.head = nn.Linear(2, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: uint8 [B, 3, H, W], 0..255 (the network's input contract)
        x = images.float() / 255.0
        return self.head(parity_features(x))


def load_model(weights_path, num_classes=2, **kwargs):
    model = ParityDetector(num_classes)
    model.load_state_dict(load_file(weights_path))
    model.eval()
    return model
