"""AI-generated image detector: a Hugging Face ViT built from the package's config.json.

The package ships config.json next to model.safetensors; load_model() builds the architecture
from it without touching the network (local_files_only) and loads the safetensors weights.
"""
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
from safetensors.torch import load_file
from transformers import AutoConfig, ViTConfig, ViTForImageClassification, ViTModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import logging

logging.set_verbosity_error()

IMAGENET_MEAN = (0.5, 0.5, 0.5)
IMAGENET_STD = (0.5, 0.5, 0.5)


class ViTDetector(nn.Module):
    """ViT encoder + linear head on the CLS token; expects uint8 [B, 3, H, W]."""

    def __init__(self, config: ViTConfig, num_classes: int = 2) -> None:
        super().__init__()
        self.config = config
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, pixel_values: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = pixel_values.to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        size = self.config.image_size
        if x.shape[-2:] != (size, size):
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        outputs = self.vit(pixel_values=x, interpolate_pos_encoding=False)
        cls = outputs.last_hidden_state[:, 0]
        return self.classifier(cls)


def _as_output(logits: torch.Tensor) -> ImageClassifierOutput:
    return ImageClassifierOutput(logits=logits)


def load_model(weights_path, num_classes=2, **kwargs):
    package_dir = str(Path(weights_path).parent)
    config = AutoConfig.from_pretrained(package_dir, local_files_only=True)
    if kwargs.get("use_hf_head"):
        config.num_labels = num_classes
        model = ViTForImageClassification.from_pretrained(
            package_dir,
            config=config,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
        )
        return model.eval()
    model = ViTDetector(config, num_classes=num_classes)
    model.load_state_dict(load_file(weights_path), strict=True)
    model.eval()
    return model
