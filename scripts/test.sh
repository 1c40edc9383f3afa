#!/usr/bin/env bash
# The whole test suite: installs the Python reference tools once (idempotent), then runs every
# Rust test. Tests that need the venv or ffmpeg fail when CI is set and they are missing, and
# skip with a message otherwise, so `cargo test --workspace` alone also works on a bare machine (it
# leaves out gascli's registry tests, which need `--features gascli/registry`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --test
export GASCLI_VENV="${GASCLI_VENV:-$root/.venv}"
# `--features gascli/registry`: the registry service is an opt-in feature of the binary (a
# miner's build leaves it out); its end-to-end tests need it.
cargo test --workspace --all-targets --features gascli/registry "$@"
