#!/usr/bin/env python3
"""Write the image/video/audio fixtures of gas-media's parity tests into OUTDIR.

Photo-like content (smooth gradients + noise), deterministic (seeded), in every still format
and mode bench.md names, plus short clips made with the FFmpeg CLI.
Usage: make_fixtures.py OUTDIR [--video] [--audio]
"""
import os
import subprocess
import sys

import numpy as np
from PIL import Image


def photo(h, w, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        128 + 100 * np.sin(x / (w / 3.1) + seed),
        128 + 100 * np.cos(y / (h / 2.3)),
        255 * (x + y) / (w + h),
    ], -1)
    base += rng.normal(0, 12, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def images(out):
    rgb = photo(181, 263, 1)
    im = Image.fromarray(rgb)
    im.save(f"{out}/rgb.png")
    im.save(f"{out}/rgb.bmp")
    im.save(f"{out}/q90_420.jpg", quality=90, subsampling=2)
    im.save(f"{out}/q90_444.jpg", quality=90, subsampling=0)
    im.save(f"{out}/q75_422.jpg", quality=75, subsampling=1)
    im.save(f"{out}/progressive.jpg", quality=85, progressive=True)
    im.convert("L").save(f"{out}/gray.jpg", quality=90)
    im.save(f"{out}/lossless.webp", lossless=True)
    im.save(f"{out}/lossy.webp", quality=80)
    im.save(f"{out}/rgb.tiff")
    rgba = np.dstack([rgb, (np.arange(263)[None, :].repeat(181, 0) % 256).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(f"{out}/rgba.png")
    Image.fromarray(rgb[..., 0], "L").save(f"{out}/gray.png")
    Image.fromarray(rgba[..., [0, 3]], "LA").save(f"{out}/gray_alpha.png")
    im.quantize(64).save(f"{out}/palette.png")
    frames = [im.quantize(32), Image.fromarray(photo(181, 263, 2)).quantize(32)]
    frames[0].save(f"{out}/anim.gif", save_all=True, append_images=frames[1:], duration=50)
    # 16-bit RGB PNG via cv2-free path: write with Pillow? Pillow cannot write RGB;16, so use
    # numpy + a minimal PNG through cv2 (BGR order).
    import cv2
    rgb16 = (rgb.astype(np.uint16) * 257 + np.arange(263, dtype=np.uint16)[None, :, None])
    cv2.imwrite(f"{out}/rgb16.png", rgb16[..., ::-1])
    cv2.imwrite(f"{out}/gray16.png", (rgb[..., 1].astype(np.uint16) * 3))
    # EXIF orientation 6 (rotate 90° CW to display).
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(f"{out}/exif6.jpg", quality=90, exif=exif.tobytes())


def ff(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def videos(out):
    ff("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1.2",
       "-pix_fmt", "yuv420p", "-c:v", "libx264", f"{out}/clip25.mp4")
    ff("-f", "lavfi", "-i", "testsrc2=size=176x144:rate=30:duration=0.3",
       "-c:v", "mpeg4", f"{out}/short30.avi")
    ff("-f", "lavfi", "-i", "mandelbrot=size=200x150:rate=10", "-t", "2",
       "-c:v", "libvpx", f"{out}/clip10.webm")


def audios(out):
    ff("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=7.5",
       "-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=44100:duration=7.5:seed=3",
       "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]", f"{out}/stereo44k.wav")
    ff("-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=22050:duration=2.0",
       "-c:a", "libmp3lame", f"{out}/short22k.mp3")
    ff("-f", "lavfi", "-i", "anoisesrc=sample_rate=48000:duration=6.5:seed=5",
       "-c:a", "flac", f"{out}/mono48k.flac")


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    images(out)
    if "--video" in sys.argv:
        videos(out)
    if "--audio" in sys.argv:
        audios(out)
