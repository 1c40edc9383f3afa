#!/usr/bin/env bash
# Video per-clip cost, side by side in one run: gas-media's in-process FFmpeg path vs decoding
# the same 16 frames alone with the same decoder (libavcodec, without and with the RGB
# conversion), vs the old path (an ffmpeg process per clip), and, when a venv with decord is
# given, vs the network's decoder (decord 0.6.0, num_threads=1, the network's 16 reads).
# N clips of 640x480 H.264 (libx264 defaults, yuv420p, 30 fps, 3 s), 16 frames -> 224x224.
#
# Usage: scripts/bench_av.sh [N] [THREADS]     (defaults: 40 clips, 2 threads)
#        GASCLI_NET_VENV=/path/to/venv-with-decord scripts/bench_av.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-40}"
THREADS="${2:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
command -v ffmpeg >/dev/null || { echo "needs ffmpeg" >&2; exit 2; }

for i in $(seq 1 "$N"); do
  ffmpeg -nostdin -v error -f lavfi \
    -i "testsrc2=size=640x480:rate=30:duration=3,noise=alls=12:allf=t+u:all_seed=$i" \
    -c:v libx264 -pix_fmt yuv420p "$WORK/$(printf %04d "$i").mp4"
done

echo "== $N clips 640x480 H.264, 16 frames -> 224x224, $THREADS threads ($(nproc) cores) =="
(cd "$ROOT" && cargo build -q --release -p gas-media --example bench_av)
BIN="$ROOT/target/release/examples/bench_av"
OUT="$("$BIN" "$WORK" "$THREADS" 16)"
echo "$OUT" | awk '{printf "  %-12s %8.2f ms/clip  %7.1f clips/s\n", $1, $2, $3}'

DECORD=""
if [ -n "${GASCLI_NET_VENV:-}" ] && "$GASCLI_NET_VENV/bin/python" -c "import decord" 2>/dev/null; then
  DECORD="$("$GASCLI_NET_VENV/bin/python" - "$WORK" "$THREADS" <<'PYEOF'
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
from decord import VideoReader, cpu
d, threads = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mp4"))
def clip(p):  # the network's read: VideoReader(num_threads=1), frames 0..15 one by one
    vr = VideoReader(p, ctx=cpu(0), num_threads=1)
    return sum(vr[i].asnumpy().shape[0] for i in range(min(16, len(vr))))
with ThreadPoolExecutor(threads) as ex:
    list(ex.map(clip, files))
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 3.0:
        list(ex.map(clip, files)); n += len(files)
el = time.perf_counter() - start
print(f"decord {el * 1e3 * threads / n:.2f} {n / el:.1f}")
PYEOF
)"
  echo "$DECORD" | awk '{printf "  %-12s %8.2f ms/clip  %7.1f clips/s  (network decoder, frames only)\n", $1, $2, $3}'
fi

printf '%s\n%s\n' "$OUT" "$DECORD" | awk '
  NF >= 2 { ms[$1] = $2 }
  END {
    printf "in-process vs decode alone:      %.2fx the cost (target <= 1.20)\n", ms["inprocess"] / ms["decode"]
    printf "in-process vs decode + RGB:      %.2fx the cost\n", ms["inprocess"] / ms["decode_rgb"]
    printf "old ffmpeg process vs in-process: %.2fx slower\n", ms["process"] / ms["inprocess"]
    if ("decord" in ms) printf "decord frames alone / in-process: %.2f (decord: no crop/resize; measured after, not interleaved)\n", ms["decord"] / ms["inprocess"]
  }'
