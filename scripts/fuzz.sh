#!/usr/bin/env bash
# Fuzzes every parser of store data (issue 14) for a bounded time, seeded from the small
# corpora committed in fuzz/corpus/: manifest, unpack (pax and tar entry checks, the
# restore's own code), delta_decode, lockfile (Cargo.lock through the TOML reader) and toml_reader.
# Installs what is missing, idempotently: a minimal nightly toolchain and cargo-fuzz.
#
# Env: FUZZ_SECONDS  seconds per target (default 20)
#      FUZZ_TARGETS  space-separated subset of targets (default: all)
# New inputs go to a scratch dir, never into the repo; a crash leaves its input in
# fuzz/artifacts/<target>/ (ignored by git) and fails the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-20}"
if [[ ! "$seconds" =~ ^[0-9]+$ ]]; then
  echo "error: FUZZ_SECONDS must be a whole number of seconds (got '$seconds')" >&2
  exit 1
fi
log() { printf '==> %s\n' "$*" >&2; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (minimal profile)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
log "building fuzz targets: $targets"
cargo +nightly fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in $targets; do
  if [[ ! -d "corpus/$t" ]]; then
    echo "error: no seed corpus fuzz/corpus/$t (known targets: $(cargo +nightly fuzz list | tr '\n' ' '))" >&2
    exit 1
  fi
  mkdir -p "$scratch/$t"
  log "fuzzing $t for ${seconds}s"
  # The first corpus dir receives new inputs: the scratch one, not the repo's.
  if ! cargo +nightly fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    >"$scratch/$t.log" 2>&1; then
    tail -n 60 "$scratch/$t.log" >&2
    echo "error: fuzz target $t found a failure; its input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^(INFO: seed corpus|stat::number_of_executed_units|stat::new_units_added|Done)' \
    "$scratch/$t.log" || true
done
log "all fuzz targets ran ${seconds}s without a finding"
