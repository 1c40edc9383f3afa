"""Example GAS video detector: the image example's upsampling-artifact features, averaged over
the clip's frames, then a trained linear head. A template for miners, not a competitive detector."""
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


class ClipParityDetector(nn.Module):
    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.head = nn.Linear(2, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        # clips: uint8 [B, T, 3, H, W], 0..255
        b, t, c, h, w = clips.shape
        feats = parity_features(clips.reshape(b * t, c, h, w).float() / 255.0)
        return self.head(feats.reshape(b, t, 2).mean(dim=1))


def load_model(weights_path, num_classes=2, **kwargs):
    model = ClipParityDetector(num_classes)
    model.load_state_dict(load_file(weights_path))
    model.eval()
    return model
