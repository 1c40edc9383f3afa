"""AI-generated image detector: torchvision ResNet-50 features + spectral branch.

Built from torchvision's architecture (weights=None, so nothing is downloaded), with a small
FFT-magnitude branch that many detectors add for upsampling artefacts.
"""
import math
from typing import List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from safetensors.torch import load_file
from scipy import signal
from torchvision.models import efficientnet_b0, resnet50
from torchvision.models.resnet import Bottleneck
from torchvision.ops import StochasticDepth


def _hann2d(n: int) -> torch.Tensor:
    w = signal.get_window("hann", n).astype(np.float32)
    return torch.from_numpy(np.outer(w, w))


class SpectralBranch(nn.Module):
    def __init__(self, size: int = 64, out: int = 128) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("window", _hann2d(size), persistent=False)
        self.proj = nn.Sequential(nn.Flatten(), nn.Linear(size * size, out), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gray = TF.rgb_to_grayscale(x).squeeze(1)
        gray = F.interpolate(gray.unsqueeze(1), size=(self.size, self.size), mode="area").squeeze(1)
        spec = torch.fft.fftshift(torch.fft.fft2(gray * self.window), dim=(-2, -1))
        return self.proj(torch.log1p(spec.abs()))


class ResNetDetector(nn.Module):
    def __init__(self, num_classes: int = 2, backbone: str = "resnet50") -> None:
        super().__init__()
        if backbone == "resnet50":
            net = resnet50(weights=None)
            feat = net.fc.in_features
            net.fc = nn.Identity()
        else:
            net = efficientnet_b0(weights=None)
            feat = net.classifier[1].in_features
            net.classifier = nn.Identity()
        self.backbone = net
        self.spectral = SpectralBranch()
        self.drop = StochasticDepth(0.1, "row")
        self.head = nn.Linear(feat + 128, num_classes)
        self.mean: List[float] = [0.485, 0.456, 0.406]
        self.std: List[float] = [0.229, 0.224, 0.225]
        assert isinstance(net.layer4[0], Bottleneck) or backbone != "resnet50"

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        x = TF.normalize(x, self.mean, self.std)
        feats = torch.cat([self.backbone(x), self.spectral(x)], dim=1)
        return self.head(self.drop(feats)) / math.sqrt(1.0)


def load_model(weights_path: str, num_classes: int = 2, **kwargs) -> torch.nn.Module:
    model = ResNetDetector(num_classes=num_classes)
    model.load_state_dict(load_file(weights_path))
    model.eval()
    print(f"loaded {model.__class__.__name__} (torchvision {torchvision.__version__})")
    return model
