#!/usr/bin/env python3
"""Write the image/video/audio fixtures of gas-media's parity tests into OUTDIR.

Photo-like content (smooth gradients + noise), deterministic (seeded), in every still format
and mode bench.md names, plus short clips made with the FFmpeg CLI.
Usage: make_fixtures.py OUTDIR [--video] [--video-set] [--audio] [--audio-set] [--no-images]
                          [--chain]
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


def video_set(out):
    """Varied clips for the decoder comparison: codecs, pixel formats, sizes, frame rates,
    GOP structures (VIDEO_SET_SPECS)."""
    src = "testsrc2=size=%s:rate=%s:duration=%s"
    for name, size, rate, dur, args in VIDEO_SET_SPECS:
        ff("-f", "lavfi", "-i", src % (size, rate, dur), *args, f"{out}/{name}")


# (file, WxH, rate, seconds, encoder args). The last two have B-frames in AVI / an open GOP:
# there the network's decoder does not land on the frame it asks for once it seeks.
VIDEO_SET_SPECS = [
    ("h264_640x480_30.mp4", "640x480", "30", "3", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "24"]),
    ("h264_bf_25.mkv", "320x240", "25", "3", ["-c:v", "libx264", "-bf", "3", "-g", "12"]),
    ("h264_ntsc.mp4", "352x288", "30000/1001", "2", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("h264_odd.mp4", "320x240", "24", "1", ["-vf", "scale=318:238", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("h264_422.mp4", "320x240", "24", "1", ["-c:v", "libx264", "-pix_fmt", "yuv422p"]),
    ("h264_444.mp4", "320x240", "24", "1", ["-c:v", "libx264", "-pix_fmt", "yuv444p"]),
    ("h264_full.mp4", "320x240", "24", "1", ["-c:v", "libx264", "-pix_fmt", "yuvj420p"]),
    ("h264_10bit.mp4", "320x240", "24", "1", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
    ("h264_bt709.mp4", "320x240", "30", "1", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]),
    ("hevc.mp4", "320x240", "30", "1", ["-c:v", "libx265", "-x265-params", "log-level=error"]),
    ("vp8.webm", "200x150", "10", "3", ["-c:v", "libvpx", "-g", "8"]),
    ("vp9.webm", "320x240", "30", "2", ["-c:v", "libvpx-vp9", "-g", "20"]),
    ("mpeg4_odd.avi", "320x240", "15", "1", ["-vf", "scale=321:241", "-c:v", "mpeg4"]),
    ("mjpeg_odd.avi", "320x240", "24", "1", ["-vf", "scale=322:241", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
    ("mpeg2.mpg", "320x240", "30", "1", ["-c:v", "mpeg2video"]),
    ("mpeg4_bf.avi", "320x240", "30", "4", ["-c:v", "mpeg4", "-g", "10", "-bf", "2"]),
    ("h264_opengop.mkv", "320x240", "30", "4", ["-c:v", "libx264", "-bf", "3", "-x264-params", "open-gop=1:keyint=20"]),
]


def audio_set(out):
    """Varied audio for the decoder comparison: codecs, rates, channel layouts, lengths."""
    noise = "anoisesrc=color=pink:sample_rate=%d:duration=%s:seed=%d"
    ff("-f", "lavfi", "-i", noise % (48000, 8, 7), "-af",
       "pan=5.1|c0=c0|c1=0.5*c0|c2=0.3*c0|c3=0.1*c0|c4=0.2*c0|c5=0.7*c0", "-c:a", "aac",
       f"{out}/aac51.m4a")
    ff("-f", "lavfi", "-i", noise % (48000, 7, 9), "-c:a", "libopus", f"{out}/opus.ogg")
    ff("-f", "lavfi", "-i", noise % (8000, 3, 11), "-ac", "2", "-c:a", "pcm_u8", f"{out}/u8_8k.wav")
    ff("-f", "lavfi", "-i", noise % (16000, 6, 13), "-c:a", "pcm_s16le", f"{out}/s16_16k.wav")
    ff("-f", "lavfi", "-i", noise % (32000, 9, 15), "-ac", "2", "-c:a", "libvorbis", f"{out}/vorbis.ogg")
    ff("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=5", "-f", "lavfi", "-i",
       noise % (44100, 5, 17), "-shortest", "-c:v", "libx264", "-c:a", "aac", "-ac", "2",
       f"{out}/av.mp4")


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
    if "--no-images" not in sys.argv:
        images(out)
    if "--chain" in sys.argv:
        chain_inputs(out)
    if "--video" in sys.argv:
        videos(out)
    if "--video-set" in sys.argv:
        video_set(out)
    if "--audio" in sys.argv:
        audios(out)
    if "--audio-set" in sys.argv:
        audio_set(out)
