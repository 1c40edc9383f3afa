#!/usr/bin/env python3
"""Write the image/video/audio fixtures of gas-media's parity tests into OUTDIR.

Photo-like content (smooth gradients + noise), deterministic (seeded), in every still format
and mode bench.md names, plus short clips made with the FFmpeg CLI.
Usage: make_fixtures.py OUTDIR [--video] [--audio] [--chain]
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
    cache_step_inputs(out, im, rgb, rgba)


def cache_step_inputs(out, im, rgb, rgba):
    """Inputs of the cache-step tests: every JPEG sampling and colour space, WebP lossy /
    lossless / alpha / animated, PNG and GIF with transparency, MPO, a COM marker."""
    import cv2
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for name, flag in [("s411", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411),
                       ("s440", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440)]:
        cv2.imwrite(f"{out}/{name}.jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92,
                                              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, flag])
    im.convert("CMYK").save(f"{out}/cmyk.jpg", quality=90)
    im.save(f"{out}/comment.jpg", quality=95, comment=b"gascli test comment")
    im.save(f"{out}/progressive444.jpg", quality=93, progressive=True, subsampling=0)
    noisy = np.random.default_rng(9).integers(0, 256, (97, 61, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(f"{out}/noise_odd.jpg", quality=97, subsampling=2)
    Image.fromarray(photo(40, 33, 4)).save(f"{out}/tiny.jpg", quality=80)
    Image.fromarray(rgba, "RGBA").save(f"{out}/alpha_lossy.webp", quality=70)
    Image.fromarray(rgba, "RGBA").save(f"{out}/alpha_lossless.webp", lossless=True)
    Image.fromarray(noisy).save(f"{out}/noise.webp", quality=90)
    frames = [im, Image.fromarray(photo(181, 263, 5))]
    frames[0].save(f"{out}/anim.webp", save_all=True, append_images=frames[1:], duration=40,
                   quality=85)
    frames[0].save(f"{out}/multi.mpo", format="MPO", save_all=True,
                   append_images=frames[1:], quality=88)
    pal = im.quantize(64)
    pal.save(f"{out}/palette_trns.png", transparency=5)
    im.quantize(32).save(f"{out}/trans.gif", transparency=3)


def chain_inputs(out):
    """Inputs of the robustness-chain tests: sizes around and below the 256-px floor, even
    (exact 2x INTER_AREA) and odd (general INTER_AREA), gray, alpha, palette, tiny."""
    sizes = [(600, 800), (513, 701), (300, 1000), (257, 400), (256, 600), (200, 900),
             (520, 262), (1, 1), (17, 3)]
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(photo(h, w, 20 + i)).save(f"{out}/chain_{h}x{w}.jpg", quality=92)
    Image.fromarray(photo(530, 530, 40)).convert("L").save(f"{out}/chain_gray.jpg", quality=90)
    rgba = np.dstack([photo(514, 610, 41), (np.arange(610)[None, :].repeat(514, 0) % 256)
                      .astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(f"{out}/chain_rgba.png")
    Image.fromarray(photo(389, 600, 42)).quantize(50).save(f"{out}/chain_palette.png")
    Image.fromarray(photo(700, 515, 43)).save(f"{out}/chain_lossy.webp", quality=85)


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
    if "--chain" in sys.argv:
        chain_inputs(out)
    if "--video" in sys.argv:
        videos(out)
    if "--audio" in sys.argv:
        audios(out)
