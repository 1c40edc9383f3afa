#!/usr/bin/env bash
# Fuzz campaign: builds the libFuzzer targets in fuzz/ on STABLE Rust (SanitizerCoverage through
# RUSTFLAGS, libFuzzer from the libfuzzer-sys crate; no nightly, no cargo-fuzz needed) and runs
# each target for a set time or number of executions, one after the other.
#
#   scripts/fuzz.sh [--time SECONDS] [--runs N] [--jobs N] [--build-only] [TARGET...]
#   scripts/fuzz.sh --smoke [--time SECONDS]      (CI: a few seconds per target)
#
# Targets: zip config safetensors analyzer media worker_frame epistula (default: all).
# --smoke builds the same targets WITHOUT coverage instrumentation in the dev profile and the
# main target directory (reusing what the workspace's test build compiled), replays the seeds
# and fuzz/regressions/TARGET (inputs that once crashed), then runs libFuzzer's mutations for
# the set time (default 4 s) per target: a regression check, not a campaign.
# Seeds: fuzz/corpus/TARGET (in the repo, small; never written to). Inputs libFuzzer finds go to
# fuzz/target/corpus/TARGET; crashes/timeouts/OOMs to fuzz/artifacts/TARGET/. Replay one with
# `fuzz/target/<host>/release/TARGET fuzz/artifacts/TARGET/crash-…`.
# Prints one summary line per target: executions, seconds, crashes; exits 1 if any crashed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

all=(zip config safetensors analyzer media worker_frame epistula)
time_s=60
runs=""
jobs=1
build_only=0
smoke=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

host="$(rustc -vV | sed -n 's/^host: //p')"

if [ "$smoke" = 1 ]; then
  [ "$time_s" = 60 ] && time_s=4
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
  bins=()
  for t in "${targets[@]}"; do bins+=(--bin "$t"); done
  echo "== fuzz smoke: building ${targets[*]} (dev profile, no instrumentation)"
  cargo build --manifest-path fuzz/Cargo.toml "${bins[@]}"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  failed=0
  for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$work/art-$t"
    dirs=("fuzz/corpus/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    set +e
    "$CARGO_TARGET_DIR/debug/$t" -max_total_time="$time_s" -timeout=20 -rss_limit_mb=2048 \
      -max_len=4096 -artifact_prefix="$work/art-$t/" "$work/$t" "${dirs[@]}" >"$work/$t.log" 2>&1
    rc=$?
    set -e
    execs=$(grep -oE '^#[0-9]+' "$work/$t.log" | tail -n1 | tr -d '#')
    if [ "$rc" != 0 ]; then
      failed=1
      tail -n 40 "$work/$t.log"
      echo "fuzz smoke: $t CRASHED (rc=$rc)"
    else
      echo "fuzz smoke: $t ok (${execs:-?} executions, seeds and regressions replayed)"
    fi
  done
  exit $failed
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
# The flags cargo-fuzz passes, minus the nightly-only sanitizer: 8-bit inline counters, PC
# table and comparison tracing for libFuzzer's feedback; `--cfg fuzzing` for crates that relax
# checksums under fuzzing. `--target` keeps the flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing ${FUZZ_EXTRA_RUSTFLAGS:-}"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
echo "== building ${targets[*]} ($host, release + debug assertions + overflow checks)"
cargo build --manifest-path fuzz/Cargo.toml --release --target "$host" "${bins[@]}"
[ "$build_only" = 1 ] && exit 0

failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$CARGO_TARGET_DIR/$host/release/$t"
  seeds="fuzz/corpus/$t"
  work="$CARGO_TARGET_DIR/corpus/$t"
  arts="fuzz/artifacts/$t"
  mkdir -p "$work" "$arts" "$seeds"
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  args=(-max_total_time="$time_s" -timeout=20 -rss_limit_mb=3072 -max_len="${FUZZ_MAX_LEN:-4096}"
        -print_final_stats=1 -artifact_prefix="$arts/")
  [ -n "$runs" ] && args+=(-runs="$runs")
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
  if [ "$jobs" -gt 1 ]; then args+=(-fork="$jobs" -ignore_crashes=0); fi
  echo "== $t: ${runs:+$runs runs or }${time_s}s"
  start=$(date +%s)
  set +e
  "$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  crashes=$(find "$arts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  if [ "$rc" != 0 ]; then
    failed=1
    tail -n 40 "$log"
  fi
  summary+=("$(printf '%-14s execs=%-12s secs=%-6s rc=%-3s artifacts=%s' "$t" "${execs:-?}" "$secs" "$rc" "$crashes")")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
