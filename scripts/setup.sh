#!/usr/bin/env bash
# One idempotent set-up for everything outside cargo that gascli's worker and tests need.
#
#   scripts/setup.sh            worker venv (.venv): the network's model runtime at the network's
#                                 own pins (python/requirements.txt: torch, torchvision, torchaudio,
#                                 transformers, timm, einops, safetensors, numpy, scipy, Pillow,
#                                 OpenCV, scikit-image, fvcore, decord); about 7 GB, as PyPI's
#                                 torch wheel brings its CUDA libraries (unused on a CPU)
#   scripts/setup.sh --test     + reference tools for the test suite (scikit-learn, pyarrow,
#                                 PyYAML, bittensor-wallet) and the system packages the tests
#                                 drive (ffmpeg)
#
# The venv is reused when the hash of the requirement files it was built from matches, so a
# second run takes about a second. GASCLI_VENV overrides the location (default: ./.venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${GASCLI_VENV:-$root/.venv}"
want_test=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (use --test or nothing)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages (only what is missing; apt needs root) ---------------------------------
need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# nasm: build-time only, lets gas-media compile libjpeg-turbo's SIMD decoder (same pixels, ~2x faster)
command -v nasm >/dev/null 2>&1 || need_apt+=(nasm)
# pkg-config + FFmpeg's -dev packages: build-time, gas-media decodes video/audio in-process
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
pkg-config --exists libavformat libavcodec libavfilter libavutil 2>/dev/null \
  || need_apt+=(libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    log "missing system packages: ${need_apt[*]} (install them with your package manager)"
    exit 1
  fi
fi

# --- python venv ---------------------------------------------------------------------------
reqs=("$root/python/requirements.txt")
[ "$want_test" = 1 ] && reqs+=("$root/python/requirements-test.txt")
hash="$(cat "${reqs[@]}" | sha256sum | cut -c1-16)"
stamp="$venv/.gascli-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ]; then
  have="$(cat "$stamp")"
  # A test venv satisfies a worker-only request too.
  if [ "$have" = "$hash" ] || { [ "$want_test" = 0 ] && grep -qx "worker:$hash" "$venv/.gascli-covers" 2>/dev/null; }; then
    log "venv $venv is up to date ($hash)"
    exit 0
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating venv at $venv"
  python3 -m venv "$venv"
fi
log "installing: ${reqs[*]##*/} (PyTorch is a large download the first time)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
worker_hash="$(cat "$root/python/requirements.txt" | sha256sum | cut -c1-16)"
echo "worker:$worker_hash" > "$venv/.gascli-covers"
echo "$hash" > "$stamp"
log "venv ready: $venv ($hash)"
