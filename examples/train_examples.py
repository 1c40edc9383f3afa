#!/usr/bin/env python3
"""Fits the example detectors' linear heads and writes their model.safetensors.

    python examples/train_examples.py [--seed 7] [--per-class 40]

Training data is generated fresh (make_sample_data.py with a seed different from the bundled
evaluation data) into a temporary directory, preprocessed the way the network does (bench.md:
centre crop + cv2 INTER_LINEAR resize for images and frames; ffmpeg mono resample, centre crop /
zero pad for audio), passed through each model's own feature code, and a logistic head is fitted.
Deterministic for a given seed.
"""
import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
LABEL = {"real": 0, "synthetic": 1, "semisynthetic": 1}


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.parent.name.replace("-", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def crop_resize(img, H, W):
    h, w = img.shape[:2]
    scale = min(h / H, w / W)
    ch, cw = min(round(scale * H), h), min(round(scale * W), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[top:top + ch, left:left + cw], (W, H), interpolation=cv2.INTER_LINEAR)


def image_tensor(path, H, W):
    img = np.asarray(Image.open(path).convert("RGB"))
    return crop_resize(img, H, W).transpose(2, 0, 1)


def video_tensor(path, H, W, T):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", str(T),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    frames = [crop_resize(f, H, W).transpose(2, 0, 1) for f in frames]
    while len(frames) < T:
        frames.append(frames[-1])
    return np.stack(frames[:T])


def audio_tensor(path, rate, seconds):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(rate),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    x = np.frombuffer(raw, "<f4")
    n = int(rate * seconds)
    if x.size > n:
        s = (x.size - n) // 2
        x = x[s:s + n]
    return np.pad(x, (0, n - x.size))


def fit_head(feats, labels, num_classes, steps=500):
    torch.manual_seed(0)
    head = torch.nn.Linear(feats.shape[1], num_classes)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=steps, line_search_fn="strong_wolfe")
    y = torch.as_tensor(labels)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(feats), y) + 1e-3 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"head.weight": head.weight.detach().contiguous(), "head.bias": head.bias.detach().contiguous()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--modality", choices=["image", "video", "audio", "all"], default="all")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(HERE / "make_sample_data.py"), str(tmp), "--seed", str(a.seed),
                        "--per-class", str(a.per_class), "--modality", a.modality], check=True)
        for modality in ("image", "video", "audio") if a.modality == "all" else (a.modality,):
            pkg = HERE / f"{modality}-detector"
            cfg = yaml.safe_load((pkg / "model_config.yaml").read_text())
            pre = cfg.get("preprocessing", {})
            H, W = pre.get("resize", [224, 224])
            xs, ys = [], []
            for cls, y in LABEL.items():
                for f in sorted((tmp / modality / cls).iterdir()):
                    if modality == "image":
                        xs.append(image_tensor(f, H, W))
                    elif modality == "video":
                        # frames as the network reads them: num_frames, alias max_frames, cap 64
                        T = min(pre.get("num_frames", pre.get("max_frames", 16)), 64)
                        xs.append(video_tensor(f, H, W, T))
                    else:
                        # the network always feeds 16 kHz x 6 s, whatever the config says
                        xs.append(audio_tensor(f, 16000, 6.0))
                    ys.append(y)
            batch = torch.from_numpy(np.stack(xs))
            mod = load_module(pkg / "model.py")
            net = mod.load_model.__globals__[[k for k in vars(mod) if k.endswith("Detector")][0]](2)
            with torch.no_grad():
                if modality == "image":
                    feats = mod.parity_features(batch.float() / 255.0)
                elif modality == "video":
                    b, t, c, h, w = batch.shape
                    feats = mod.parity_features(batch.reshape(b * t, c, h, w).float() / 255.0).reshape(b, t, 2).mean(1)
                else:
                    feats = mod.band_features(batch.float())
            state = fit_head(feats, ys, cfg["model"]["num_classes"])
            net.load_state_dict(state)
            with torch.no_grad():
                acc = (net(batch).argmax(1).numpy() == np.array(ys)).mean()
            save_file(state, str(pkg / "model.safetensors"), metadata={"trained_by": "examples/train_examples.py",
                                                                       "seed": str(a.seed)})
            print(f"{modality}: {len(ys)} training samples, train accuracy {acc:.3f} -> {pkg / 'model.safetensors'}")


if __name__ == "__main__":
    main()
