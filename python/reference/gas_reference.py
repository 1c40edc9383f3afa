#!/usr/bin/env python3
"""Reference preprocessing pipeline of bench.md, used by gas-media's parity tests.

This is the Python way the network preprocesses media (Pillow decode + centre crop +
cv2.resize INTER_LINEAR; decord, or the FFmpeg CLI with decord's pixel conversion, for video
frames; the FFmpeg CLI for audio), written plainly so the Rust tensors can be compared
against it.

Image commands take --cache-step: first the network's cache step (each sample stored with
Pillow's image.save(path) under the name the network derives from image.format, then read
back), which is what the network's model sees.

Usage:
  gas_reference.py image  --size H W [--cache-step] -o OUT.npy FILE...   # uint8 [N,3,H,W]
  gas_reference.py decode [--cache-step] FILE OUT.npy         # uint8 [h,w,3] Pillow RGB
  gas_reference.py cache-step FILE OUT                         # the stored bytes
  gas_reference.py augment --size H W [--no-cache-step] -o OUT.npy FILE...  # robustness chain
  gas_reference.py area-list LIST                              # lines "IN.npy H W OUT.npy", INTER_AREA
  gas_reference.py info                                        # library versions (JSON)
  gas_reference.py resize-list LIST                           # lines "IN.npy H W OUT.npy"
  gas_reference.py video  --size H W --frames T [--frame-rate R] [--decoder ffmpeg|decord]
                          [--augment] -o OUT.npy FILE...                       # [N,T,3,H,W]
                          (--augment: the robustness pass's H.264 chain, video_degrade)
  gas_reference.py audio  --rate SR --seconds D -o OUT.npy FILE...            # f32 [N,S]
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from PIL import Image

cv2.setNumThreads(1)


def pil_rgb(data: bytes) -> np.ndarray:
    """bench.md Image step 1: Pillow open + convert("RGB"), no EXIF transpose."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def cache_step(data: bytes) -> bytes:
    """bench.md "The cache step": the network opens the sample with Pillow, names the file
    img_NNNNNN.jpg for JPEG and img_NNNNNN.<format in lower case> otherwise (JPEG when Pillow
    knows no format), and calls image.save(path) with no options: the saver and its defaults
    follow from that extension. Returns the bytes so stored."""
    image = Image.open(io.BytesIO(data))
    fmt = image.format if image.format else "JPEG"
    ext = ".jpg" if fmt.upper() == "JPEG" else "." + fmt.lower()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "img_000000" + ext)
        image.save(path)
        with open(path, "rb") as f:
            return f.read()


def pil_rgb_cached(data: bytes) -> np.ndarray:
    """What the network's model-side decoder returns for a sample: its stored bytes, opened
    and converted to RGB."""
    return pil_rgb(cache_step(data))


def pil_roundtrip(img: np.ndarray, fmt: str, **opts) -> np.ndarray:
    """Encode an RGB array with Pillow in memory and decode it back to RGB."""
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format=fmt, **opts)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def robustness_chain(img: np.ndarray, th: int, tw: int) -> np.ndarray:
    """bench.md "Robustness pass", image chain, on a decoded RGB sample: halve with
    INTER_AREA unless a side would drop below 256 px or not shrink (then skip), back up with
    INTER_LINEAR; JPEG q55 with 4:2:0; WebP q75 method 4; JPEG q80 with 4:2:0; then the
    normal crop + resize."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    small_h = max(256, int(round(h * 0.5)))
    small_w = max(256, int(round(w * 0.5)))
    if small_h < h and small_w < w:
        img = cv2.resize(img, (small_w, small_h), interpolation=cv2.INTER_AREA)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    img = pil_roundtrip(img, "JPEG", quality=55, subsampling=2)
    img = pil_roundtrip(img, "WEBP", quality=75, method=4)
    img = pil_roundtrip(img, "JPEG", quality=80, subsampling=2)
    return crop_resize(img, th, tw)


def crop_box(h: int, w: int, th: int, tw: int):
    scale = min(h / th, w / tw)
    ch = min(round(scale * th), h)
    cw = min(round(scale * tw), w)
    ch, cw = max(ch, 1), max(cw, 1)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_resize(img: np.ndarray, th: int, tw: int) -> np.ndarray:
    """bench.md Image step 2: centre crop to the target aspect, cv2 INTER_LINEAR resize."""
    top, left, ch, cw = crop_box(img.shape[0], img.shape[1], th, tw)
    crop = np.ascontiguousarray(img[top:top + ch, left:left + cw])
    return cv2.resize(crop, (tw, th), interpolation=cv2.INTER_LINEAR)


def image_tensor(path: str, th: int, tw: int, cached: bool = False) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    img = pil_rgb_cached(data) if cached else pil_rgb(data)
    return crop_resize(img, th, tw).transpose(2, 0, 1)


def augment_tensor(path: str, th: int, tw: int, cached: bool = True) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    img = pil_rgb_cached(data) if cached else pil_rgb(data)
    return robustness_chain(img, th, tw).transpose(2, 0, 1)


def versions() -> dict:
    from PIL import features
    import PIL
    return {"pillow": PIL.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "webp": features.version("webp")}


def video_fps_cli(path: str) -> float:
    """The stream's avg_frame_rate as the network's decoder computes it (a C double division:
    0/0 is NaN, n/0 infinite), read with ffprobe."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=avg_frame_rate", "-of", "default=noprint_wrappers=1:nokey=1", path],
        check=True, capture_output=True, text=True).stdout.strip()
    a, _, b = out.partition("/")
    num, den = float(a), float(b or 1)
    if den == 0:
        return float("nan") if num == 0 else float("inf")
    return num / den


def video_frames_cli(path: str):
    """Every frame in order with the FFmpeg CLI, converted as the network's decoder (decord)
    does: libavfilter scale with bilinear flags to rgb24 (auto-rotation on, as decord rotates
    by the display matrix). PPM stream, so each frame states its own size."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0",
         "-fps_mode", "passthrough", "-vf", "scale=flags=bilinear", "-f", "image2pipe",
         "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:1"], check=True, capture_output=True).stdout
    frames, pos = [], 0
    while pos < len(raw):
        parts = raw[pos:pos + 64].split(maxsplit=4)
        assert parts[0] == b"P6" and parts[3] == b"255", parts[:4]
        w, h = int(parts[1]), int(parts[2])
        head = pos + len(b"P6\n%d %d\n255\n" % (w, h))
        frames.append(np.frombuffer(raw[head:head + w * h * 3], np.uint8).reshape(h, w, 3))
        pos = head + w * h * 3
    return frames


def video_degrade(frames, crf=23, fps=25):
    """The network's apply_video_robustness_augmentations on a clip's frames (T, H, W, 3),
    step by step: INTER_AREA x0.5 with the 256-px floor (only when both sides shrink, not
    scaled back), a trailing row/column dropped for even sides, the ffmpeg CLI H.264 round
    trip with its exact command, decoded with cv2.VideoCapture (last frame repeated when
    short). No fallbacks: this reference needs the ffmpeg command."""
    v = np.stack(frames)
    t, h, w, _ = v.shape
    sh, sw = max(256, int(round(h * 0.5))), max(256, int(round(w * 0.5)))
    if sh < h and sw < w:
        v = np.stack([cv2.resize(v[i], (sw, sh), interpolation=cv2.INTER_AREA) for i in range(t)])
    t, h, w, _ = v.shape
    eh, ew = h - h % 2, w - w % 2
    if (eh, ew) != (h, w) and eh >= 2 and ew >= 2:
        v = v[:, :eh, :ew, :]
        t, h, w, _ = v.shape
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "x.mp4")
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-s", f"{w}x{h}", "-r", str(int(fps)), "-i", "-", "-c:v", "libx264",
                        "-crf", str(int(crf)), "-pix_fmt", "yuv420p", out],
                       input=np.ascontiguousarray(v).tobytes(), check=True, capture_output=True)
        cap = cv2.VideoCapture(out)
        dec = []
        while len(dec) < t:
            ok, fr = cap.read()
            if not ok:
                break
            dec.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
        cap.release()
    if not dec:
        raise ValueError("H.264 round trip gave no frames")
    while len(dec) < t:
        dec.append(dec[-1])
    return dec[:t]


def video_tensor(path: str, th: int, tw: int, t: int, frame_rate, decoder: str,
                 augment: bool = False):
    """bench.md Video, following the network's frame selection step by step: T frames from 0,
    or every max(1, round(fps / frame_rate))-th (30 fps when the stream's rate is 0), the last
    one repeated when short. decoder "decord" reads them as the network does (random access);
    "ffmpeg" decodes in order with the CLI (frame i = the i-th decoded frame)."""
    if decoder == "decord":
        from decord import VideoReader, cpu
        vr = VideoReader(path, ctx=cpu(0), num_threads=1)
        total, fps = len(vr), (lambda: vr.get_avg_fps())
        read = lambda idx: [vr[i].asnumpy() for i in idx]
    else:
        frames = video_frames_cli(path)
        total, fps = len(frames), (lambda: video_fps_cli(path))
        read = lambda idx: [frames[i] for i in idx]
    if total == 0:
        raise ValueError(f"{path}: no frames")
    if frame_rate is not None:
        video_fps = fps()
        if not video_fps or video_fps <= 0:
            video_fps = 30.0
        step = max(1, round(video_fps / frame_rate))
        idx = list(range(0, total, step))[:t]
    else:
        idx = list(range(min(t, total)))
    picked = read(idx)
    if not picked:
        raise ValueError(f"{path}: no frames")
    while len(picked) < t:
        picked.append(picked[-1])
    if augment:
        picked = video_degrade(picked)
    return np.stack([crop_resize(f, th, tw).transpose(2, 0, 1) for f in picked])


def audio_tensor(path: str, sr: int, seconds: float) -> np.ndarray:
    """bench.md Audio: the network's FFmpeg CLI decode (its pinned torch cannot load
    torchcodec, so the CLI is the path it takes), centre crop / right zero-pad."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-vn",
         "-ac", "1", "-ar", str(sr), "-f", "f32le", "pipe:1"],
        check=True, capture_output=True).stdout
    x = np.frombuffer(raw, "<f4")
    n = int(sr * seconds)
    if len(x) > n:
        s = (len(x) - n) // 2
        x = x[s:s + n]
    else:
        x = np.pad(x, (0, n - len(x)))
    return x.astype(np.float32)


def main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("image"); a.add_argument("--size", nargs=2, type=int, required=True)
    a.add_argument("--cache-step", action="store_true")
    a.add_argument("-o", required=True); a.add_argument("files", nargs="+")
    a = sub.add_parser("decode"); a.add_argument("--cache-step", action="store_true")
    a.add_argument("file"); a.add_argument("out")
    a = sub.add_parser("cache-step"); a.add_argument("file"); a.add_argument("out")
    a = sub.add_parser("augment"); a.add_argument("--size", nargs=2, type=int, required=True)
    a.add_argument("--no-cache-step", action="store_true")
    a.add_argument("-o", required=True); a.add_argument("files", nargs="+")
    a = sub.add_parser("area-list"); a.add_argument("list")
    sub.add_parser("info")
    a = sub.add_parser("resize-list"); a.add_argument("list")
    a = sub.add_parser("video"); a.add_argument("--size", nargs=2, type=int, required=True)
    a.add_argument("--frames", type=int, required=True)
    a.add_argument("--frame-rate", type=float)
    a.add_argument("--decoder", choices=["ffmpeg", "decord"], default="ffmpeg")
    a.add_argument("--augment", action="store_true")
    a.add_argument("-o", required=True); a.add_argument("files", nargs="+")
    a = sub.add_parser("audio"); a.add_argument("--rate", type=int, required=True)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("-o", required=True); a.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "image":
        np.save(args.o, np.stack([image_tensor(f, *args.size, args.cache_step)
                                  for f in args.files]))
    elif args.cmd == "decode":
        with open(args.file, "rb") as f:
            data = f.read()
        np.save(args.out, pil_rgb_cached(data) if args.cache_step else pil_rgb(data))
    elif args.cmd == "cache-step":
        with open(args.file, "rb") as f:
            data = cache_step(f.read())
        with open(args.out, "wb") as f:
            f.write(data)
    elif args.cmd == "augment":
        np.save(args.o, np.stack([augment_tensor(f, *args.size, not args.no_cache_step)
                                  for f in args.files]))
    elif args.cmd == "area-list":
        for line in open(args.list):
            src, th, tw, dst = line.split()
            np.save(dst, cv2.resize(np.load(src), (int(tw), int(th)),
                                    interpolation=cv2.INTER_AREA))
    elif args.cmd == "info":
        print(json.dumps(versions()))
    elif args.cmd == "resize-list":
        for line in open(args.list):
            src, th, tw, dst = line.split()
            np.save(dst, crop_resize(np.load(src), int(th), int(tw)))
    elif args.cmd == "video":
        np.save(args.o, np.stack([video_tensor(f, *args.size, args.frames, args.frame_rate,
                                               args.decoder, args.augment) for f in args.files]))
    elif args.cmd == "audio":
        np.save(args.o, np.stack([audio_tensor(f, args.rate, args.seconds) for f in args.files]))


if __name__ == "__main__":
    main(sys.argv[1:])
