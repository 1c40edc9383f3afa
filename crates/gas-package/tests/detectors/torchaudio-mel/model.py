"""Synthetic speech detector: log-mel spectrogram + small CNN (torchaudio transforms)."""
import torch
import torch.nn as nn
import torchaudio
from safetensors.torch import load_file


class MelCNN(nn.Module):
    def __init__(self, num_classes: int = 2, sample_rate: int = 16000) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=512, hop_length=160, n_mels=64)
        self.to_db = torchaudio.transforms.AmplitudeToDB(top_db=80.0)
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        audio = torchaudio.functional.highpass_biquad(audio, 16000, 30.0)
        spec = self.to_db(self.mel(audio)).unsqueeze(1)
        return self.net(spec)


def load_model(weights_path, num_classes=2, **kwargs):
    model = MelCNN(num_classes, sample_rate=int(kwargs.get("sample_rate", 16000)))
    model.load_state_dict(load_file(weights_path))
    return model.eval()
