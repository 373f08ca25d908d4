#!/usr/bin/env bash
# The main job, twice, with no cloud account: build a real workspace, save it, clone it
# again at the same path as the next CI job would, restore there and build again,
# showing that Cargo finds every unit fresh.
#
# Everything lives in one folder: a fresh temporary one, removed at exit, or
# STASH_DEMO_DIR (kept). The store is a folder inside it, so a run never restores a
# snapshot another run saved at another path (whose workspace units would rebuild).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '\n==> %s\n' "$*"; }

if [[ -n "${STASH_DEMO_DIR:-}" ]]; then
  work="$STASH_DEMO_DIR"
  mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/cargo-stash-demo.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
export CARGO_STASH_STORE="file://$work/store"

say "building cargo-stash (release; a few minutes the first time, Cargo shows its progress)"
cargo build --release -p cargo-stash
stash="$root/target/release/cargo-stash"
say "demo in $work; store $CARGO_STASH_STORE"

rm -rf "$work/origin" "$work/checkout"
cp -r tests/fixtures/workspace "$work/origin"
rm -rf "$work/origin/target"
git -C "$work/origin" init -q -b main
git -C "$work/origin" add -A
git -C "$work/origin" -c user.name=demo -c user.email=demo@example.invalid commit -qm demo

say "job 1: clone, restore (a miss the first time), cold build, save"
git clone -q "$work/origin" "$work/checkout"
cd "$work/checkout"
"$stash" restore
say "job 1: cargo build, cold: compiles every crate (registry crates, a -sys crate's C code, a proc-macro); a few minutes"
time cargo build
say "job 1: cargo stash save"
"$stash" save

say "job 2: a fresh clone at the same path, restore, build"
cd "$work"
rm -rf "$work/checkout"
git clone -q "$work/origin" "$work/checkout"
cd "$work/checkout"
"$stash" restore
say "job 2: cargo build, warm"
time cargo build --message-format=json -q 2>/dev/null | python3 -c '
import json, sys
units = [json.loads(l) for l in sys.stdin if "compiler-artifact" in l]
fresh = sum(u["fresh"] for u in units)
reg = [u for u in units if u["package_id"].startswith("registry+")]
print("%d/%d units fresh (%d/%d registry units, %d/%d workspace units)" % (
    fresh, len(units), sum(u["fresh"] for u in reg), len(reg),
    fresh - sum(u["fresh"] for u in reg), len(units) - len(reg)))
sys.exit(0 if units and fresh == len(units) else 1)' && echo "all fresh: nothing was rebuilt"
./target/debug/app
"$stash" ls | head -5
