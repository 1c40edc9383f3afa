#!/usr/bin/env bash
# gascli d bench against the network's own tool (`gasbench run`), side by side on the same
# generated data, interleaved, one run: wall time, CPU time and peak RSS of each whole process
# tree (sampled every 20 ms from /proc), and the ratios, per modality and size.
#
#   scripts/bench_vs_gasbench.sh [--modalities "image video audio"] [--sizes "500 2000"]
#                                [--repeat R]
#
# Data (the issue's set-up): 1024x768 q90 photo-like JPEGs; 640x480 H.264 clips (2 s, 25 fps;
# the video model, the example detector set to 16 frames of 224x224, reads 16 frames); 8 s
# 16 kHz WAV clips (cut to 6 s). Half real, half synthetic, as two datasets of SIZE/2. The
# bundled example detectors, `--full`, the network's batch sizes (32 / 4 / 16), one seed;
# gascli with its sandbox on.
#
# The network's tool runs offline: its cache (`<cache>/datasets/<name>/samples/…` with
# `sample_metadata.json`, `dataset_info.json`, `.download_complete`, each sample's metadata
# carrying its `media_type`) is filled with the same files, and `--skip-missing` keeps it from
# the network. It is installed once into its own venv ($GASBENCH_VENV, default
# ~/.cache/gascli/gasbench-venv) from a checkout of github.com/BitMind-AI/gasbench
# ($GASBENCH_SRC; cloned there when unset) at its `gpu` extra's pins — except onnxruntime-gpu
# (its pinned 1.24.2 is no longer on PyPI; the CPU `onnxruntime` stands in, imported at start-up
# and never used: the network refuses ONNX models). The venv
# reuses the worker venv's packages where the pins agree (torch & co.: one download, not two).
#
# Needs: the worker venv (scripts/setup.sh --test; $GASCLI_VENV or ./.venv), ffmpeg, cargo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODALITIES="image video audio"
SIZES="500 2000"
REPEAT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --modalities) MODALITIES="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    -h|--help) sed -n 2,24p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
WORKER_VENV="${GASCLI_VENV:-$ROOT/.venv}"
PY="$WORKER_VENV/bin/python"
[ -x "$PY" ] || { echo "no worker venv at $WORKER_VENV (run scripts/setup.sh --test)" >&2; exit 2; }
GB_VENV="${GASBENCH_VENV:-$HOME/.cache/gascli/gasbench-venv}"
GB_SRC="${GASBENCH_SRC:-$HOME/.cache/gascli/gasbench-src}"
# BENCH_KEEP=DIR keeps the data, logs and both tools' results there.
if [ -n "${BENCH_KEEP:-}" ]; then
  WORK="$BENCH_KEEP"; mkdir -p "$WORK"
else
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
fi
log() { printf '[vs-gasbench] %s\n' "$*" >&2; }

# --- the network's tool, in a venv of its own (cached) ----------------------------------------
if [ ! -f "$GB_SRC/pyproject.toml" ]; then
  log "cloning github.com/BitMind-AI/gasbench into $GB_SRC"
  git clone -q https://github.com/BitMind-AI/gasbench "$GB_SRC"
fi
stamp="$( (cat "$GB_SRC/pyproject.toml"; "$PY" -c 'import sys; print(sys.prefix)') | sha256sum | cut -c1-16)"
if [ ! -f "$GB_VENV/.stamp" ] || [ "$(cat "$GB_VENV/.stamp")" != "$stamp" ]; then
  log "building $GB_VENV (the network's pins; once)"
  rm -rf "$GB_VENV"
  base="$("$PY" -c 'import sys; print(sys.base_prefix)')/bin/python3"
  "$base" -m venv "$GB_VENV"
  site="$("$GB_VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
  "$PY" -c 'import site; print(site.getsitepackages()[0])' > "$site/gascli-worker-venv.pth"
  "$GB_VENV/bin/python" - "$GB_SRC/pyproject.toml" > "$WORK/pins.txt" <<'PYEOF'
import sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["gpu"]
pins = [r for r in extra if not r.startswith("onnxruntime")]
# imported at start-up; never used for the .safetensors models the network accepts
print("\n".join(pins + ["onnxruntime>=1.22.0"]))
PYEOF
  "$GB_VENV/bin/pip" install -q -r "$WORK/pins.txt"
  "$GB_VENV/bin/pip" install -q --no-deps "$GB_SRC"
  echo "$stamp" > "$GB_VENV/.stamp"
fi
GB="$GB_VENV/bin/gasbench"

# --- gascli ------------------------------------------------------------------------------------
if [ -z "${GASCLI_BIN:-}" ]; then
  (cd "$ROOT" && cargo build -q --release -p gascli)
  GASCLI_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gascli"
fi

# --- data: generated once per modality at the largest size; smaller sizes take a prefix -------
max_size=0
for s in $SIZES; do [ "$s" -gt "$max_size" ] && max_size="$s"; done
gen() { # modality half dir
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import io, os, subprocess, sys, wave
import numpy as np
from PIL import Image
modality, half, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
for cls in ("real", "synthetic"):
    d = os.path.join(out, cls)
    os.makedirs(d, exist_ok=True)
    for i in range(half):
        if modality == "image":
            y, x = np.mgrid[0:768, 0:1024].astype(np.float32)
            a, b = rng.uniform(0, 6.28, 2)
            img = np.stack([128 + 100 * np.sin(x / 160 + a), 128 + 100 * np.cos(y / 90 + b),
                            255 * (x + y) / 1792], -1) + rng.normal(0, 10, (768, 1024, 3))
            if cls == "synthetic":
                img = img * 0.8 + 30
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                os.path.join(d, f"{i:05d}.jpg"), quality=90)
        elif modality == "video":
            src = "testsrc2" if cls == "real" else "mandelbrot"
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"{src}=size=640x480:rate=25,noise=alls={5 + i % 20}:allf=t",
                            "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                            os.path.join(d, f"{i:05d}.mp4")], check=True)
        else:
            t = np.arange(8 * 16000) / 16000
            f0 = rng.uniform(100, 900)
            x = 0.3 * np.sin(2 * np.pi * f0 * t) + rng.normal(0, 0.02 if cls == "real" else 0.1, t.size)
            with wave.open(os.path.join(d, f"{i:05d}.wav"), "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
                w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
PYEOF
}

# The network's cache for one run, written by the network's own code (its `save_sample_to_cache`:
# images re-saved by Pillow as after a download, videos and audio as bytes; then
# `save_dataset_cache_files`): two datasets of SIZE/2 from the same source files gascli reads.
fill_cache() { # modality size srcdir cache catalog
  "$GB_VENV/bin/python" - "$@" <<'PYEOF'
import os, sys
from PIL import Image
from gasbench.dataset.config import BenchmarkDatasetConfig
from gasbench.dataset.cache import save_sample_to_cache, save_dataset_cache_files
modality, size, src, cache, catalog = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
fmt = {"image": "jpg", "video": "mp4", "audio": "wav"}[modality]
lines = ["datasets:"]
for cls in ("real", "synthetic"):
    name = f"bench-{modality}-{cls}"
    cfg = BenchmarkDatasetConfig(name=name, path=f"local/{name}", modality=modality,
                                 media_type=cls, source_format=fmt)
    d = os.path.join(cache, "datasets", name)
    samples = os.path.join(d, "samples")
    os.makedirs(samples, exist_ok=True)
    meta = {}
    for i, f in enumerate(sorted(os.listdir(os.path.join(src, cls)))[: size // 2]):
        path = os.path.join(src, cls, f)
        if modality == "image":
            sample = {"image": Image.open(path)}
        else:
            sample = {f"{modality}_bytes": open(path, "rb").read(), "source_file": f}
        stored = save_sample_to_cache(sample, cfg, samples, i)
        meta[stored] = {"media_type": cls, "source_file": f, "dataset_path": cfg.path}
    save_dataset_cache_files(cfg, d, meta, len(meta))
    open(os.path.join(d, ".download_complete"), "w").close()
    lines += [f"  - name: {name}", f"    path: {cfg.path}", f"    modality: {modality}",
              f"    media_type: {cls}", f"    source_format: {fmt}"]
open(catalog, "w").write("\n".join(lines) + "\n")
PYEOF
}

# Runs a command, prints "wall_s cpu_s peak_tree_mib": every 20 ms, the summed RSS of the
# command's whole process tree (peak kept) and each process's CPU time (utime + stime, the last
# value seen per process summed at the end: a sandboxed worker in its own PID namespace is not
# reaped by the command, so rusage would miss it).
measure() {
  "$PY" - "$@" <<'PYEOF'
import os, subprocess, sys, time
tick = os.sysconf("SC_CLK_TCK")
def tree(root):
    kids, stat = {}, {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                kids.setdefault(int(f[1]), []).append(int(p))
                stat[int(p)] = (int(f[11]) + int(f[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
    rss, cpu, todo = 0, {}, [root]
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, [])
        if pid in stat:
            cpu[pid] = stat[pid]
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except OSError:
            pass
    return rss, cpu
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ["LOG"], "w"))
peak, cpu = 0, {}
while p.poll() is None:
    rss, c = tree(p.pid)
    peak = max(peak, rss)
    cpu.update(c)
    time.sleep(0.02)
wall = time.perf_counter() - t0
if p.returncode != 0:
    sys.exit(f"{sys.argv[1]} exited {p.returncode}; see {os.environ['LOG']}")
print(f"{wall:.2f} {sum(cpu.values()):.2f} {peak / 1024:.0f}")
PYEOF
}

# The issue's video set-up reads 16 frames; the example video detector's config reads 8 at
# 64x64. Video runs use a copy of it with `num_frames: 16` and the network's default 224x224
# (the model averages over any T and size).
VIDEO_MODEL="$WORK/video-detector-16x224"
rm -rf "$VIDEO_MODEL"
cp -r "$ROOT/examples/video-detector" "$VIDEO_MODEL"
sed -i -e 's/^  resize: .*/  resize: [224, 224]/' -e 's/^  num_frames: .*/  num_frames: 16/' \
  "$VIDEO_MODEL/model_config.yaml"
grep -q '^  num_frames: 16$' "$VIDEO_MODEL/model_config.yaml" \
  || { echo "could not set num_frames in $VIDEO_MODEL/model_config.yaml" >&2; exit 1; }
declare -A MODEL=([image]=examples/image-detector [video]="$VIDEO_MODEL" [audio]=examples/audio-detector)
declare -A BATCH=([image]=32 [video]=4 [audio]=16)
rows=()
for m in $MODALITIES; do
  src="$WORK/data-$m"
  if [ ! -f "$src/.done-$max_size" ]; then
    log "generating $max_size $m samples"
    rm -rf "$src"
    gen "$m" "$((max_size / 2))" "$src"
    touch "$src/.done-$max_size"
  fi
  for size in $SIZES; do
    dir="$WORK/$m-$size"
    rm -rf "$dir"
    mkdir -p "$dir/gascli-data/real" "$dir/gascli-data/synthetic"
    fill_cache "$m" "$size" "$src" "$dir/gb-cache" "$dir/catalog.yaml"
    for cls in real synthetic; do
      files=("$src/$cls"/*)
      for f in "${files[@]:0:$((size / 2))}"; do
        ln -s "$f" "$dir/gascli-data/$cls/"
      done
    done
    # gascli's counterpart of the filled cache: its cache step's on-disk store, warmed by one
    # untimed run (a miner's later runs read it)
    gascli_run() {
      "$GASCLI_BIN" d bench "--$m-model" "${MODEL[$m]}" --full --data-dir "$dir/gascli-data" \
        --cache-dir "$dir/gascli-cache" --quiet --batch-size "${BATCH[$m]}" --seed 42 \
        --results-dir "$dir/gascli-results"
    }
    (cd "$ROOT" && gascli_run >/dev/null 2>"$dir/gascli-warm.log") \
      || { tail -n 30 "$dir/gascli-warm.log" >&2; exit 1; }
    for r in $(seq "$REPEAT"); do
      log "$m $size: gasbench run ($r/$REPEAT)"
      gb="$(cd "$ROOT" && LOG="$dir/gb.log" measure "$GB" run "--$m-model" "${MODEL[$m]}" \
        --full --dataset-config "$dir/catalog.yaml" --cache-dir "$dir/gb-cache" --skip-missing \
        --batch-size "${BATCH[$m]}" --seed 42 --results-dir "$dir/gb-results")" \
        || { tail -n 30 "$dir/gb.log" >&2; exit 1; }
      log "$m $size: gascli d bench ($r/$REPEAT)"
      cl="$(cd "$ROOT" && LOG="$dir/gascli.log" measure "$GASCLI_BIN" d bench \
        "--$m-model" "${MODEL[$m]}" --full --data-dir "$dir/gascli-data" \
        --cache-dir "$dir/gascli-cache" --quiet --batch-size "${BATCH[$m]}" --seed 42 \
        --results-dir "$dir/gascli-results")" \
        || { tail -n 30 "$dir/gascli.log" >&2; exit 1; }
      rows+=("$m $size $gb $cl")
    done
    read -r gb_sn gb_brier <<<"$("$PY" -c 'import json,sys,glob; p=sorted(glob.glob(sys.argv[1]+"/*/results.json"))[-1]; r=json.load(open(p))["results"]; print(r["sn34_score"], r["binary_brier"])' "$dir/gb-results")"
    read -r cl_sn cl_brier <<<"$("$PY" -c 'import json,sys; o=json.load(open(sys.argv[1]))["overall"]; print(o["sn34_score"], o["brier"])' "$dir/gascli-results/results.json")"
    log "$m $size: sn34 gasbench $gb_sn, gascli $cl_sn; Brier gasbench $gb_brier, gascli $cl_brier"
  done
done

echo "== gascli d bench vs gasbench run: $(nproc) cores; gascli $("$GASCLI_BIN" --version | awk '{print $2}'), gasbench $("$GB_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("gasbench"))')"
printf '%-6s %6s | %9s %9s %9s | %9s %9s %9s | %7s %7s %7s\n' modality n "gb wall" "gb cpu" "gb MiB" \
  "gascli wall" "cpu" "MiB" "wall x" "cpu x" "mem x"
for row in "${rows[@]}"; do
  read -r m n gw gc gm cw cc cm <<<"$row"
  awk -v m="$m" -v n="$n" -v gw="$gw" -v gc="$gc" -v gm="$gm" -v cw="$cw" -v cc="$cc" -v cm="$cm" 'BEGIN {
    printf "%-6s %6d | %8.2fs %8.2fs %9d | %10.2fs %8.2fs %9d | %6.2fx %6.2fx %6.2fx\n",
      m, n, gw, gc, gm, cw, cc, cm, gw / cw, gc / cc, gm / cm }'
done
