"""Example GAS audio detector: spectral-slope features + a trained linear head.

Cheap vocoders and low-rate generators often lack energy in the upper band. The model compares
the energy of the first and second differences of the waveform (high-frequency content) with the
signal energy, in log scale, and feeds them to a linear layer. A template, not a competitive model.
"""
import torch
import torch.nn as nn
from safetensors.torch import load_file


def band_features(x: torch.Tensor) -> torch.Tensor:
    """x: float32 [B, N] in -1..1 → [B, 2]."""
    eps = 1e-8
    e0 = x.pow(2).mean(dim=1) + eps
    d1 = x[:, 1:] - x[:, :-1]
    d2 = d1[:, 1:] - d1[:, :-1]
    return torch.stack([torch.log(d1.pow(2).mean(dim=1) + eps) - torch.log(e0),
                        torch.log(d2.pow(2).mean(dim=1) + eps) - torch.log(e0)], dim=1)


class BandDetector(nn.Module):
    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.head = nn.Linear(2, num_classes)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        # audio: float32 [B, N] mono at the configured sample rate
        return self.head(band_features(audio.float()))


def load_model(weights_path, num_classes=2, **kwargs):
    model = BandDetector(num_classes)
    model.load_state_dict(load_file(weights_path))
    model.eval()
    return model
