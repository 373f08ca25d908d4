#!/usr/bin/env bash
# The main job on the embedded default store (a folder under your cache dir; no cloud
# account): build a real workspace, save it, clone it as a fresh CI job would, restore
# there and build again, showing how many units Cargo found fresh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -q -p cargo-stash
stash="$root/target/release/cargo-stash"
work="${STASH_DEMO_DIR:-$(mktemp -d)}"
echo "==> demo in $work (store: the default, see 'cargo-stash ls')"

mkdir -p "$work"
rm -rf "$work/origin" "$work/checkout"
cp -r tests/fixtures/workspace "$work/origin"
git -C "$work/origin" init -q -b main
git -C "$work/origin" add -A
git -C "$work/origin" -c user.name=demo -c user.email=demo@example.invalid commit -qm demo

echo "==> job 1: clone, restore (a miss the first time), cold build, save"
git clone -q "$work/origin" "$work/checkout"
cd "$work/checkout"
"$stash" restore
time cargo build -q
"$stash" save

echo "==> job 2: a fresh clone at the same path, restore, build"
cd "$work"
rm -rf "$work/checkout"
git clone -q "$work/origin" "$work/checkout"
cd "$work/checkout"
"$stash" restore
time cargo build --message-format=json -q 2>/dev/null | python3 -c '
import json, sys
units = [json.loads(l) for l in sys.stdin if "compiler-artifact" in l]
reg = [u for u in units if u["package_id"].startswith("registry+")]
fresh = sum(u["fresh"] for u in reg)
rebuilt = sum(not u["fresh"] for u in units if u not in reg)
print("registry units fresh: %d/%d; workspace units rebuilt: %d" % (fresh, len(reg), rebuilt))'
./target/debug/app
"$stash" ls | head -5
