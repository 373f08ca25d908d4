#!/usr/bin/env bash
# Sets up and runs every test of cargo-stash: formatting and lints, the Rust workspace
# (unit, golden vectors, end-to-end on real Cargo builds), the stores suite against real
# SeaweedFS and Azurite, the wasm package under Node, and the CI templates under their
# real runners, and the fuzz targets of every store-data parser for a bounded time.
# Servers are started on 127.0.0.1 and stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '==> test: %s\n' "$*" >&2; }

bash scripts/setup.sh

cleanup() {
  if [[ -x scripts/servers.sh ]]; then bash scripts/servers.sh stop || true; fi
}
trap cleanup EXIT

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

if [[ -f scripts/servers.sh ]]; then
  log "starting object stores on 127.0.0.1"
  bash scripts/servers.sh start
fi

log "cargo test --workspace"
cargo build -q -p cargo-stash
CARGO_STASH_BIN="$root/target/debug/cargo-stash" cargo test --workspace --no-fail-fast

# Fuzz every parser of store data for a bounded time (FUZZ_SECONDS each, seeded from
# fuzz/corpus/): a crash fails the run.
export FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
for extra in scripts/wasm-test.sh ci-templates/test.sh scripts/fuzz.sh; do
  if [[ -f "$extra" ]]; then
    log "$extra"
    bash "$extra"
  fi
done
log "all tests passed"
