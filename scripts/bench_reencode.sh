#!/usr/bin/env bash
# The network's cache step and robustness chain: Pillow/OpenCV (the Python way, a thread per
# worker) vs gas-media, on N photo-like 1024×768 JPEGs (quality 90), same files, same thread
# count, one run. Prints images/s side by side, the ratios, and gas-media's peak memory.
#
#   cache step      Pillow open + save (JPEG defaults) + reopen + load  vs  gas-media
#                   cache_step (+ the decode of the stored bytes)
#   second run      Pillow open + load of the stored q75 files + crop + cv2 resize  vs
#                   gas-media through its on-disk cache (and today's direct exact path)
#   chain           decode + the network's robustness chain + crop/resize, Python vs Rust, and
#                   the bound on that ratio: Pillow's codec calls alone on the same pixels
#                   (both tools make exactly these calls, to libjpeg-turbo and libwebp)
#
# Usage: scripts/bench_reencode.sh [N] [THREADS]    (defaults: 200 images, 2 threads)
# Needs a venv with the network's Pillow / OpenCV / numpy ($GASCLI_VENV or .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-200}"
THREADS="${2:-2}"
PY="${GASCLI_VENV:-$ROOT/.venv}/bin/python"
[ -x "$PY" ] || { echo "no venv python at $PY (run scripts/setup.sh --test)" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/in"

"$PY" - "$WORK/in" "$N" <<'PYEOF'
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

echo "== $N JPEGs 1024x768 q90, $THREADS threads ($(nproc) cores); $("$PY" "$ROOT/python/reference/gas_reference.py" info) =="
(cd "$ROOT" && cargo build -q --release -p gas-media --example bench_reencode)
BIN="$ROOT/target/release/examples/bench_reencode"

PYRATES="$("$PY" - "$WORK/in" "$THREADS" "$ROOT/python/reference" <<'PYEOF'
import io, os, sys, time
from multiprocessing.pool import ThreadPool
import cv2, numpy as np
from PIL import Image
cv2.setNumThreads(1)
d, threads = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
import gas_reference as ref
files = [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if f.endswith(".jpg")]
def save(b):
    out = io.BytesIO()
    Image.open(io.BytesIO(b)).save(out, format="JPEG")
    return out.getvalue()
stored = [save(b) for b in files]
def step(b):                       # open + save (the network's cache write)
    return len(save(b))
def step_reopen(b):                # + reopen + load (what the benchmark reads back)
    return Image.open(io.BytesIO(save(b))).convert("RGB").size
def second(b):                     # later runs: the stored file → tensor
    return ref.crop_resize(np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), 224, 224)
def chain(b):
    return ref.robustness_chain(np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), 224, 224)
def halved(b):                     # the chain's step 1, done once outside the timing
    img = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(256, round(w / 2)), max(256, round(h / 2))),
                       interpolation=cv2.INTER_AREA)
    return b, cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
def codecs(pair):                  # the chain's codec calls alone, on the same pixels
    b, img = pair
    Image.open(io.BytesIO(b)).convert("RGB")
    img = ref.pil_roundtrip(img, "JPEG", quality=55, subsampling=2)
    img = ref.pil_roundtrip(img, "WEBP", quality=75, method=4)
    return ref.pil_roundtrip(img, "JPEG", quality=80, subsampling=2).shape
def rate(fn, data, secs=3.0):
    with ThreadPool(threads) as pool:
        pool.map(fn, data[:8])
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs:
            pool.map(fn, data); n += len(data)
        return n / (time.perf_counter() - t0)
few = files[:max(8, len(files) // 4)]
print(f"{rate(step, files):.1f} {rate(step_reopen, files):.1f} {rate(second, stored):.1f} "
      f"{rate(chain, few, 6.0):.1f} {rate(codecs, [halved(b) for b in few], 6.0):.1f}")
PYEOF
)"
read -r PY_STEP PY_STEP_REOPEN PY_SECOND PY_CHAIN PY_CODECS <<<"$PYRATES"
r() { "$BIN" "$WORK/in" "$1" "$THREADS"; }
read -r _ STEP STEP_MEM <<<"$(r step)"
read -r _ STEP_DEC _ <<<"$(r step_decode)"
read -r _ NETWORK _ <<<"$(r network)"
CACHED="$(r cached)"
FIRST="$(echo "$CACHED" | awk '/cached_first/ {print $2}')"
SECOND="$(echo "$CACHED" | awk '/cached_second/ {print $2}')"
read -r _ DIRECT _ <<<"$(r direct)"
CHAIN_DIR="$WORK/chain"; mkdir -p "$CHAIN_DIR"
ls "$WORK/in" | head -n "$(( N / 4 > 8 ? N / 4 : 8 ))" | while read -r f; do cp "$WORK/in/$f" "$CHAIN_DIR/"; done
read -r _ CHAIN CHAIN_MEM <<<"$("$BIN" "$CHAIN_DIR" chain "$THREADS")"
printf '%-66s %8s img/s\n' \
  "(a) Pillow open + save (JPEG defaults)" "$PY_STEP" \
  "(b) gas-media cache_step (decode + re-encode)" "$STEP" \
  "(c) Pillow open + save + reopen + load" "$PY_STEP_REOPEN" \
  "(d) gas-media cache_step + decode of the stored bytes" "$STEP_DEC" \
  "(e) gas-media network path, in-memory step (→ 224x224 tensor)" "$NETWORK" \
  "(f) gas-media network path, first run through the disk cache" "$FIRST" \
  "(g) Pillow + cv2, second run: stored q75 file → tensor" "$PY_SECOND" \
  "(h) gas-media network path, second run (disk cache hit)" "$SECOND" \
  "(i) gas-media direct exact path (no cache step; before this change)" "$DIRECT" \
  "(j) Python: decode + robustness chain + crop/resize" "$PY_CHAIN" \
  "(k) gas-media: decode + robustness chain + crop/resize" "$CHAIN" \
  "(l) Pillow: the chain's codec calls alone (decode, JPEG q55, WebP q75, JPEG q80)" "$PY_CODECS"
awk -v a="$PY_STEP" -v b="$STEP" -v c="$PY_STEP_REOPEN" -v d="$STEP_DEC" -v e="$NETWORK" \
    -v g="$PY_SECOND" -v h="$SECOND" -v i="$DIRECT" -v j="$PY_CHAIN" -v k="$CHAIN" \
    -v l="$PY_CODECS" 'BEGIN {
  printf "b/c cache step vs Pillow open+save+reopen   %.2fx  (target >= 1.5)\n", b / c
  printf "b/a cache step vs Pillow open+save          %.2fx\n", b / a
  printf "d/c step + decode vs Pillow, same work      %.2fx\n", d / c
  printf "e/c step + tensor vs Pillow open+save+reopen %.2fx\n", e / c
  printf "h/i second run vs direct exact path         %.2fx  (target >= 1.0)\n", h / i
  printf "h/g second run vs Pillow + cv2              %.2fx\n", h / g
  printf "k/j chain vs Python chain                   %.2fx  (target >= 2)\n", k / j
  printf "l/j bound on k/j: the same codecs, done in no time otherwise  %.2fx\n", l / j
}'
echo "gas-media peak RSS: cache step ${STEP_MEM} MiB, chain ${CHAIN_MEM} MiB (flat: buffers per image, nothing kept)"
