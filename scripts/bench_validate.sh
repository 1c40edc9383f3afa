#!/usr/bin/env bash
# Bench `gas_package::validate` on ZIPs holding 64 MiB and 1 GiB safetensors weights:
# prints wall time (best of 3 after a warm-up) and peak RSS of a fresh validating process.
# The bench builds the files in a temp dir and deletes them. Needs ~1.1 GiB of free temp space.
# Override the sizes with GAS_BENCH_SIZES_MIB=64,1024,4096.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p gas-package --bench validate
