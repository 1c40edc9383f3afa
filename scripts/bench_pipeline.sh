#!/usr/bin/env bash
# Whole-benchmark throughput: the decode+preprocess pipeline alone (`gascli d preprocess`) vs the
# full `gascli d bench` with a trivial model in the sandboxed worker, for images and video, plus
# the peak RSS of `gascli d bench` at two dataset sizes (memory must not grow with the dataset).
#
# Usage: scripts/bench_pipeline.sh [N_IMAGES] [N_VIDEOS]   (defaults 300, 24)
# Side by side: GASCLI_BASELINE=/path/to/older/gascli scripts/bench_pipeline.sh … runs every
# throughput measurement with both binaries on the same files (baseline first, then this
# checkout's, then both again in reverse order) and prints new/baseline ratios.
# "overall" samples/s includes validation and the worker's start (PyTorch import, ~1-2 s), so
# use a few thousand images to see the steady state. Batch sizes are given explicitly (the
# network's 32 for images, 4 for video) so that binaries with other defaults compare fairly.
# Needs: the venv (scripts/setup.sh --test), ffmpeg, /usr/bin/time. Builds gascli --release.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-300}"; NV="${2:-24}"
PY="${GASCLI_VENV:-$ROOT/.venv}/bin/python"
[ -x "$PY" ] || { echo "no venv python at $PY (run scripts/setup.sh --test)" >&2; exit 2; }
cargo build -q --release -p gascli --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gascli"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT

# trivial models: constant logits, so the worker protocol, not the model, is what is measured
for m in image video; do
  mkdir -p "$W/$m-model"
  cp "$ROOT/examples/$m-detector/model.safetensors" "$W/$m-model/"
  cat > "$W/$m-model/model.py" <<'PY'
import torch

class Trivial(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 2)

def load_model(weights_path, num_classes=2):
    return Trivial()
PY
done
printf 'name: trivial-image\nversion: "1"\nmodality: image\npreprocessing: {resize: [224, 224]}\nmodel: {num_classes: 2}\n' > "$W/image-model/model_config.yaml"
printf 'name: trivial-video\nversion: "1"\nmodality: video\npreprocessing: {resize: [224, 224], max_frames: 16}\nmodel: {num_classes: 2}\n' > "$W/video-model/model_config.yaml"

"$PY" - "$W/img" "$N" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
y, x = np.mgrid[0:768, 0:1024].astype(np.float32)
for i in range(n):
    d = f"{out}/{'real' if i % 2 else 'synthetic'}"; os.makedirs(d, exist_ok=True)
    a, b = rng.uniform(0, 6.28, 2)
    img = np.stack([128 + 100 * np.sin(x / 160 + a), 128 + 100 * np.cos(y / 90 + b),
                    255 * (x + y) / 1792], -1) + rng.normal(0, 10, (768, 1024, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{d}/{i:04d}.jpg", quality=90)
PYEOF
for i in $(seq 1 "$NV"); do
  d="$W/vid/$([ $((i % 2)) = 0 ] && echo real || echo synthetic)"; mkdir -p "$d"
  ffmpeg -v error -f lavfi -i "testsrc2=size=640x480:rate=30:duration=1.2" -c:v libx264 -pix_fmt yuv420p "$d/$i.mp4"
done

secs() { "$PY" -c 'import sys,time; print(f"{time.time():.3f}")'; }
rate() { "$PY" -c "print(f'{$1 / ($3 - $2):.1f}')"; }

# One binary's figures: pipeline alone and with the worker, image and video; appended to $W/figs
# as "TAG KEY VALUE" lines, and printed.
measure() {
  local bin="$1" tag="$2"
  local t0 t1
  t0=$(secs); "$bin" d preprocess --model "$W/image-model" $(find "$W/img" -name '*.jpg') -o "$W/x.npy" >/dev/null; t1=$(secs)
  echo "$tag image_pipeline_per_s $(rate "$N" "$t0" "$t1")" >> "$W/figs"
  /usr/bin/time -f "%M" -o "$W/rss_img" "$bin" d bench --full --quiet --json --batch-size 32 --image-model "$W/image-model" --data-dir "$W/img" --results-dir "$W/r1-$tag" > "$W/r1-$tag.json"
  figs "$W/r1-$tag.json" "$W/rss_img" image "$tag"
  t0=$(secs); "$bin" d preprocess --model "$W/video-model" $(find "$W/vid" -name '*.mp4') -o "$W/v.npy" >/dev/null; t1=$(secs)
  echo "$tag video_pipeline_per_s $(rate "$NV" "$t0" "$t1")" >> "$W/figs"
  /usr/bin/time -f "%M" -o "$W/rss" "$bin" d bench --full --quiet --json --batch-size 4 --video-model "$W/video-model" --data-dir "$W/vid" --results-dir "$W/r2-$tag" > "$W/r2-$tag.json"
  figs "$W/r2-$tag.json" "$W/rss" video "$tag"
}
figs() {
  "$PY" - "$@" >> "$W/figs" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])); t = r["timing"]; m, tag = sys.argv[3], sys.argv[4]
print(f"{tag} {m}_bench_samples_per_s {t['samples_per_s']}")
print(f"{tag} {m}_preprocess_ms_per_sample {t['preprocess_ms_per_sample']}")
print(f"{tag} {m}_worker_ms_per_sample {t['inference_ms_per_sample']}")
print(f"{tag} {m}_peak_rss_gascli_mib {t.get('peak_rss_mib') or 0}")
print(f"{tag} {m}_peak_rss_tree_mib {int(open(sys.argv[2]).read().split()[-1]) / 1024}")
print(f"{tag} {m}_n {r['overall']['n']}")
PYEOF
}
: > "$W/figs"
if [ -n "${GASCLI_BASELINE:-}" ]; then
  measure "$GASCLI_BASELINE" base; measure "$BIN" new; measure "$BIN" new; measure "$GASCLI_BASELINE" base
else
  measure "$BIN" new
fi
"$PY" - "$W/figs" "$N" "$NV" <<'PYEOF'
import sys, collections
figs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    tag, key, val = line.split()
    figs[key][tag].append(float(val))
print(f"({sys.argv[2]} JPEG 1024x768 -> 224; {sys.argv[3]} clips 640x480 -> 16x224x224; "
      "samples/s overall include the worker start)")
both = any("base" in v for v in figs.values())
print(f"{'figure':36} {'this checkout':>22}" + (f" {'baseline':>22} {'new/base':>9}" if both else ""))
for key, by in figs.items():
    new = by["new"]
    row = f"{key:36} {' / '.join(f'{x:.2f}' for x in new):>22}"
    if both:
        base = by["base"]
        ratio = (sum(new) / len(new)) / (sum(base) / len(base)) if sum(base) else float("nan")
        row += f" {' / '.join(f'{x:.2f}' for x in base):>22} {ratio:9.3f}"
    print(row)
PYEOF
# memory bound: the same run on a quarter of the images
mkdir -p "$W/quarter/real" "$W/quarter/synthetic"
# (an array, not `find | head`: under pipefail, find's SIGPIPE would end the script silently)
for c in real synthetic; do files=("$W/img/$c"/*.jpg); cp "${files[@]:0:$((N / 8))}" "$W/quarter/$c/"; done
"$BIN" d bench --full --quiet --json --image-model "$W/image-model" --data-dir "$W/quarter" --results-dir "$W/r3" > "$W/r3.json"
"$PY" - "$W/r3.json" "$W/r1-new.json" "$N" <<'PYEOF'
import json, sys
q, f, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
print(f"peak RSS of the gascli process in d bench: {q['timing']['peak_rss_mib']:.0f} MiB at {q['overall']['n']} images "
      f"vs {f['timing']['peak_rss_mib']:.0f} MiB at {f['overall']['n']} images")
PYEOF
