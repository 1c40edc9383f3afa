"""Writes the small seed corpus of the fuzz targets (fuzz/corpus/TARGET/*) from the bundled
examples and generated inputs. Needs Pillow (the project venv). Re-run after changing a format."""
import io
import json
import struct
import sys
import zipfile
from pathlib import Path

from PIL import Image

root = Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"


def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def st(tensors, meta=None):
    header, off, blobs = {}, 0, b""
    for name, dtype, shape in tensors:
        size = {"F32": 4, "F16": 2, "U8": 1, "I64": 8, "BF16": 2}[dtype]
        n = size
        for s in shape:
            n *= s
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
        blobs += bytes(n)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blobs


# safetensors
put("safetensors", "example", (root / "examples/image-detector/model.safetensors").read_bytes())
put("safetensors", "multi", st([("a.weight", "F32", [2, 3]), ("b", "U8", [4]), ("c", "BF16", [1])], {"format": "pt"}))
put("safetensors", "empty", st([]))
put("safetensors", "scalar", st([("s", "I64", [])]))

# config
for ex in ["image", "video", "audio"]:
    put("config", ex, (root / f"examples/{ex}-detector/model_config.yaml").read_text())
put("config", "full", """name: "x"
version: "1.0.0"
modality: image
dtype: bfloat16
preprocessing:
  resize: [224, 224]
  normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
model:
  num_classes: 2
  weights_file: "model.safetensors"
extra: &a [1, *a]
""")

# analyzer
for ex in ["image", "video", "audio"]:
    put("analyzer", ex, (root / f"examples/{ex}-detector/model.py").read_text())
for d in sorted((root / "crates/gas-package/tests/detectors").iterdir()):
    put("analyzer", "det-" + d.name, (d / "model.py").read_text())
put("analyzer", "hostile", """# -*- coding: utf-8 -*-
from __future__ import annotations
import torch, typing, enum
from torch import *
t = torch
x = torch.os.system
y: "eval('1')" = f"{t!r:>{10}}" '{0.__class__}'
def load_model(weights_path, num_classes=2, **kw):
    return lambda a, b=1: [c for c in (a, b) if not -c ** 2] or {**kw}
""")

# zip: a valid package, a nested-folder one, a stored one
def pkg(nested=False, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        p = "m/" if nested else ""
        z.writestr(p + "model_config.yaml", (root / "examples/image-detector/model_config.yaml").read_text())
        z.writestr(p + "model.py", "import torch\ndef load_model(weights_path, num_classes=2):\n    return torch.nn.Linear(2, num_classes)\n")
        z.writestr(p + "model.safetensors", (root / "examples/image-detector/model.safetensors").read_bytes(),
                   compress_type=zipfile.ZIP_STORED)
    return b.getvalue()
put("zip", "valid", pkg())
put("zip", "nested", pkg(nested=True))
put("zip", "stored", pkg(method=zipfile.ZIP_STORED))

# media: first byte selects options (see fuzz_targets/media.rs), then the file
img = Image.new("RGB", (9, 7))
for i in range(9):
    for j in range(7):
        img.putpixel((i, j), (i * 28, j * 36, (i * j) % 256))
for fmt, kw in [("JPEG", {"quality": 80}), ("PNG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 80}), ("TIFF", {})]:
    b = io.BytesIO()
    (img.convert("P") if fmt == "GIF" else img).save(b, fmt, **kw)
    for sel in (0x00, 0x41, 0x83):
        put("media", f"{fmt.lower()}-{sel:02x}", bytes([sel]) + b.getvalue())
b = io.BytesIO()
img.save(b, "JPEG", quality=70, progressive=True, exif=Image.Exif() )
put("media", "jpeg-progressive", bytes([0xC0]) + b.getvalue())
npy = b"\x93NUMPY\x01\x00" + b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }".ljust(118) + b"\n" + bytes(6)
put("media", "npy", bytes([0]) + npy)

# worker reply frames: u32 LE header length, JSON header, payload of header["nbytes"]
def frame(h, payload=b""):
    hb = json.dumps(h).encode()
    return struct.pack("<I", len(hb)) + hb + payload
# (the target reads two selector bytes first: batch size, class count)
put("worker_frame", "ok", b"\x02\x02" + frame({"ok": True, "nbytes": 16, "shape": [2, 2], "dtype": "float32"}, bytes(16)))
put("worker_frame", "nan", b"\x01\x02" + frame({"ok": True, "nbytes": 8, "shape": [1, 2]}, b"\x00\x00\xc0\x7f" * 2))
put("worker_frame", "err", b"\x01\x02" + frame({"ok": False, "error": "boom", "kind": "load"}))
put("worker_frame", "ready", b"\x00\x00" + frame({"op": "ready", "nbytes": 0}))

# epistula: version, timestamp, uuid, signer, signature, body, signed_for split by 0xFF
parts = [b"2", b"1750000000000", b"0b7a9d4e-3c39-4f5e-9a43-6d1f0a9e2b11",
         b"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", b"0x" + b"ab" * 64, b"{}", b"registry"]
put("epistula", "shape", b"\xff".join(parts))
put("epistula", "missing", b"\xff".join(parts[:3]))
print("corpus written", file=sys.stderr)
