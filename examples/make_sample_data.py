#!/usr/bin/env python3
"""Deterministic sample data for the example detectors.

    python examples/make_sample_data.py OUT_DIR [--modality image|video|audio|all]
                                                 [--per-class N] [--seed S]

Writes OUT_DIR/<modality>/{real,synthetic,semisynthetic}/... :
- "real": smooth random scenes (low-frequency fields) with sensor-like noise; audio: broadband
  noise with tones.
- "synthetic": the same kind of scene rendered at half resolution and upsampled 2× with nearest
  neighbour (the periodic artifact of many generators); audio: low-passed (missing upper band).
- "semisynthetic": a real scene with an upsampled (inpainted) patch; audio: half low-passed.
Images are PNG (64×80, so the network's centre crop to 64×64 runs but no resampling);
videos are lossless FFV1 in Matroska (needs the `ffmpeg` CLI); audio is 16-bit PCM WAV, 16 kHz.
"""
import argparse
import subprocess
import wave
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 64, 80
CLASSES = ("real", "synthetic", "semisynthetic")


def scene(rng, h, w):
    """Smooth RGB field in 0..255 (float)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        acc = np.full((h, w), rng.uniform(60, 190))
        for _ in range(4):
            fy, fx = rng.uniform(0.01, 0.12, size=2)
            ph = rng.uniform(0, 2 * np.pi)
            acc += rng.uniform(10, 35) * np.sin(2 * np.pi * (fy * yy + fx * xx) + ph)
        img[..., c] = acc
    return img


def to_u8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def real_image(rng, h=H, w=W):
    return to_u8(scene(rng, h, w) + rng.normal(0, 6, size=(h, w, 3)))


def synthetic_image(rng, h=H, w=W):
    small = scene(rng, h // 2, w // 2) + rng.normal(0, 6, size=(h // 2, w // 2, 3))
    up = small.repeat(2, axis=0).repeat(2, axis=1)
    return to_u8(up + rng.normal(0, 0.8, size=up.shape))


def semisynthetic_image(rng, h=H, w=W):
    img = real_image(rng, h, w).astype(np.float64)
    ph, pw = 40, 48
    top = 2 * rng.integers(0, (h - ph) // 2 + 1)
    left = 2 * rng.integers(0, (w - pw) // 2 + 1)
    img[top:top + ph, left:left + pw] = synthetic_image(rng, ph, pw)
    return to_u8(img)


MAKERS = {"real": real_image, "synthetic": synthetic_image, "semisynthetic": semisynthetic_image}


def write_images(out, rng, n):
    for cls in CLASSES:
        d = out / "image" / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(MAKERS[cls](rng)).save(d / f"{cls}_{i:03d}.png", optimize=True)


def write_videos(out, rng, n, frames=10):
    for cls in CLASSES:
        d = out / "video" / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            base = MAKERS[cls](rng).astype(np.int16)
            clip = []
            for t in range(frames):
                # slow camera pan by an even number of pixels keeps the 2×2 grid aligned
                f = np.roll(base, 2 * t, axis=1) + rng.integers(-1, 2, size=base.shape)
                clip.append(np.clip(f, 0, 255).astype(np.uint8))
            raw = np.stack(clip).tobytes()
            cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{W}x{H}", "-r", "10", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0",
                   str(d / f"{cls}_{i:03d}.mkv")]
            subprocess.run(cmd, input=raw, check=True)


def lowpass(x, k=8):
    return np.convolve(x, np.ones(k) / k, mode="same")


def write_audio(out, rng, n, rate=16000, seconds=2.5):
    t = np.arange(int(rate * seconds)) / rate
    for cls in CLASSES:
        d = out / "audio" / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            x = 0.15 * rng.normal(size=t.size)
            for _ in range(3):
                x += 0.1 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t + rng.uniform(0, 6.3))
            if cls == "synthetic":
                x = lowpass(x)
            elif cls == "semisynthetic":
                half = x.size // 2
                x = np.concatenate([x[:half], lowpass(x[half:])])
            pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
            with wave.open(str(d / f"{cls}_{i:03d}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(pcm.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--modality", choices=["image", "video", "audio", "all"], default="all")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--seed", type=int, default=34)
    a = ap.parse_args()
    mods = ["image", "video", "audio"] if a.modality == "all" else [a.modality]
    for m in mods:
        # one generator per modality, so --modality X alone gives the same files as `all`
        rng = np.random.default_rng([a.seed, ["image", "video", "audio"].index(m)])
        {"image": write_images, "video": write_videos, "audio": write_audio}[m](a.out, rng, a.per_class)


if __name__ == "__main__":
    main()
