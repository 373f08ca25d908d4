#!/usr/bin/env bash
# Save and restore of a real project's target dir through the local store and through
# SeaweedFS (S3), at several --jobs values; prints MB/s (uncompressed target bytes per
# second) and the S3/local ratio. Needs `scripts/servers.sh start`.
#
#   bench/stores.sh [PROJECT_DIR]     default: a copy of tests/fixtures/workspace, built
#   BIN=target/release/cargo-stash JOBS="2 8 16" bench/stores.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-$root/target/release/cargo-stash}"
jobs_list="${JOBS:-2 8}"
[[ -x "$bin" ]] || { echo "build it first: cargo build --release -p cargo-stash (or set BIN)" >&2; exit 2; }
[[ -f "$root/target/servers.env" ]] || { echo "run scripts/servers.sh start first" >&2; exit 2; }
set -a; . "$root/target/servers.env"; set +a
export CI=true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ -n "${1:-}" ]]; then
  project="$1"
else
  project="$work/project"
  cp -r "$root/tests/fixtures/workspace" "$project"
  rm -rf "$project/target"
  (cd "$project" && git init -q && git add -A && git -c user.name=b -c user.email=b@b commit -qm b && cargo build -q)
fi
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['$1'])"; }
run_id="$(date +%s)"
printf '%-6s %-5s %12s %12s %12s\n' store jobs MB save_MB/s restore_MB/s
for jobs in $jobs_list; do
  declare -A save_rate=() restore_rate=()
  for store in local s3; do
    case $store in
      local) url="file://$work/store-$jobs" ;;
      s3) url="$CARGO_STASH_TEST_S3/bench-$run_id-$jobs" ;;
    esac
    rm -f "$project/target/.cargo-stash/state.json"
    out="$("$bin" save --json --jobs "$jobs" --store "$url" --manifest-path "$project/Cargo.toml")"
    bytes="$(field bytes_total <<<"$out")"; secs="$(field seconds <<<"$out")"
    save_rate[$store]="$(python3 -c "print(f'{$bytes/1e6/$secs:.1f}')")"
    clone="$work/clone-$store-$jobs"
    git clone -q "$project" "$clone"
    out="$("$bin" restore --json --jobs "$jobs" --store "$url" --manifest-path "$clone/Cargo.toml")"
    written="$(field bytes_written <<<"$out")"; rsecs="$(field seconds <<<"$out")"
    restore_rate[$store]="$(python3 -c "print(f'{$written/1e6/$rsecs:.1f}')")"
    printf '%-6s %-5s %12.1f %12s %12s\n' "$store" "$jobs" "$(python3 -c "print($bytes/1e6)")" \
      "${save_rate[$store]}" "${restore_rate[$store]}"
    rm -rf "$clone"
  done
  python3 -c "print(f'ratio s3/local at jobs=$jobs: save {${save_rate[s3]}/${save_rate[local]}:.2f}, restore {${restore_rate[s3]}/${restore_rate[local]}:.2f}')"
done
