#!/usr/bin/env bash
# Image preprocessing throughput: the Python way (Pillow decode + crop rule + cv2 INTER_LINEAR,
# a thread per core) vs gas-media's exact path, its bare decode and its --fast-decode path,
# on N photo-like 1024×768 JPEGs (quality 90) → 224×224. Prints images/s and the ratios.
#
# Usage: scripts/bench_media.sh [N] [THREADS]    (defaults: 300 images, 2 threads)
# Needs the venv (.venv or $GASCLI_VENV) with Pillow, numpy, opencv-python-headless.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-300}"
THREADS="${2:-2}"
PY="${GASCLI_VENV:-$ROOT/.venv}/bin/python"
[ -x "$PY" ] || { echo "no venv python at $PY (run scripts/setup.sh --test)" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PY" - "$WORK" "$N" <<'PYEOF'
import sys, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
y, x = np.mgrid[0:768, 0:1024].astype(np.float32)
for i in range(n):
    a, b = rng.uniform(0, 6.28, 2)
    img = np.stack([128 + 100 * np.sin(x / 160 + a), 128 + 100 * np.cos(y / 90 + b),
                    255 * (x + y) / 1792], -1) + rng.normal(0, 10, (768, 1024, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{out}/{i:04d}.jpg", quality=90)
PYEOF

echo "== $N JPEGs 1024x768 q90 -> 224x224, $THREADS threads ($(nproc) cores) =="
(cd "$ROOT" && cargo build -q --release -p gas-media --example bench_media)
BIN="$ROOT/target/release/examples/bench_media"

PYRATES="$("$PY" - "$WORK" "$THREADS" <<'PYEOF'
import io, os, sys, time
from multiprocessing.pool import ThreadPool
import cv2, numpy as np
from PIL import Image
cv2.setNumThreads(1)
d, threads = sys.argv[1], int(sys.argv[2])
files = [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if f.endswith(".jpg")]
H = W = 224
def python_way(b):
    img = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    h, w = img.shape[:2]
    s = min(h / H, w / W)
    ch, cw = min(round(s * H), h), min(round(s * W), w)
    t, l = (h - ch) // 2, (w - cw) // 2
    out = cv2.resize(np.ascontiguousarray(img[t:t + ch, l:l + cw]), (W, H), interpolation=cv2.INTER_LINEAR)
    return out.transpose(2, 0, 1)
def bare(b):
    return Image.open(io.BytesIO(b)).convert("RGB").size
def rate(fn):
    with ThreadPool(threads) as pool:
        pool.map(fn, files[:20])
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            pool.map(fn, files); n += len(files)
        return n / (time.perf_counter() - t0)
print(f"{rate(python_way):.1f} {rate(bare):.1f}")
PYEOF
)"
read -r PY_WAY PIL_DECODE <<<"$PYRATES"
EXACT="$("$BIN" "$WORK" exact "$THREADS" | awk '{print $2}')"
DECODE="$("$BIN" "$WORK" decode "$THREADS" | awk '{print $2}')"
FAST="$("$BIN" "$WORK" fast "$THREADS" | awk '{print $2}')"
printf '%-58s %8s img/s\n' \
  "(a) Python: Pillow decode + crop + cv2 INTER_LINEAR" "$PY_WAY" \
  "(b) Pillow bare decode (open + convert RGB)" "$PIL_DECODE" \
  "(c) gas-media exact path (decode + crop + resize + CHW)" "$EXACT" \
  "(d) gas-media bare decode (libjpeg-turbo via mozjpeg-sys)" "$DECODE" \
  "(e) gas-media --fast-decode (DCT-scaled, not exact)" "$FAST"
awk -v a="$PY_WAY" -v c="$EXACT" -v d="$DECODE" -v e="$FAST" 'BEGIN {
  printf "c/a exact vs Python      %.2fx  (target >= 1.2)\n", c / a
  printf "c/d exact vs bare decode %.2f   (target >= 0.90)\n", c / d
  printf "e/c fast vs exact        %.2fx  (target >= 1.6)\n", e / c
}'
