#!/usr/bin/env bash
# Relocation benchmark (issue 13): build time after a restore into a fresh clone at the
# saved path against one at another path (the old checkout deleted), and the share of the
# save spent in the relocation scan.
#
#   bash bench/relocation.sh                           # the trap fixture workspace
#   PROJECT=/path/to/a/git/checkout bash bench/relocation.sh
#
# Environment (all optional):
#   PROJECT    a git checkout with a Cargo workspace at its root (default: a copy of
#              tests/fixtures/relocation, workspace in ws/); its target/, if built, is
#              copied so only the workspace members compile again
#   WS         the workspace dir inside the checkout       (default: ws for the fixture, .)
#   STASH_BIN  cargo-stash binary (default target/release/cargo-stash, else target/debug)
#   BENCH_DIR  scratch dir, recreated                      (default /tmp/cargo-stash-reloc)
# Prints one line per measurement; nothing is written to the repo.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/cargo-stash-reloc}
STASH_BIN=${STASH_BIN:-$REPO/target/release/cargo-stash}
[[ -x $STASH_BIN ]] || STASH_BIN=$REPO/target/debug/cargo-stash
[[ -x $STASH_BIN ]] || { echo "build cargo-stash first" >&2; exit 1; }
unset CARGO_TARGET_DIR CARGO_BUILD_BUILD_DIR CARGO_STASH_STORE || true
export CI=true CARGO_TERM_COLOR=never CARGO_STASH_STORE="file://$BENCH_DIR/store"

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR/a" "$BENCH_DIR/b"
if [[ -z ${PROJECT:-} ]]; then
    cp -r "$REPO/tests/fixtures/relocation" "$BENCH_DIR/a/repo"
    git -C "$BENCH_DIR/a/repo" init -qb main
    git -C "$BENCH_DIR/a/repo" add -A
    git -C "$BENCH_DIR/a/repo" -c user.name=b -c user.email=b@b commit -qm fixture
    WS=${WS:-ws}
else
    git clone -q "$PROJECT" "$BENCH_DIR/a/repo"
    WS=${WS:-.}
fi
A=$BENCH_DIR/a/repo

timed() { local t0; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
units() { cargo build --message-format=json --manifest-path "$1/$WS/Cargo.toml" 2>/dev/null |
    grep '"reason":"compiler-artifact"' | awk '/"fresh":true/ { f++ } END { printf "%d/%d fresh", f, NR }'; }

# A built target/ of PROJECT is copied (mtimes kept): only the workspace rebuilds here.
if [[ -n ${PROJECT:-} && -d $PROJECT/target ]]; then cp -a "$PROJECT/target" "$A/target"; fi
(cd "$A/$WS" && cargo build -q)
save_log=$BENCH_DIR/save.log
t_save=$(timed bash -c "cd '$A/$WS' && '$STASH_BIN' save -v --no-registry 2>'$save_log'")
scan=$(grep -o 'relocation scan: [0-9.]*s' "$save_log" | grep -o '[0-9.]*' || echo 0)
echo "save: ${t_save}s wall; relocation scan ${scan}s CPU summed over units (runs beside packing)"

# Same path: the checkout replaced by a fresh clone where it was.
git clone -q --bare "$A" "$BENCH_DIR/origin.git"
rm -rf "$A" && git clone -q "$BENCH_DIR/origin.git" "$A"
(cd "$A/$WS" && "$STASH_BIN" restore --no-registry >/dev/null 2>&1)
fresh_same=$(units "$A")
rm -rf "$A" && git clone -q "$BENCH_DIR/origin.git" "$A"
(cd "$A/$WS" && "$STASH_BIN" restore --no-registry >/dev/null 2>&1)
t_same=$(timed cargo build --manifest-path "$A/$WS/Cargo.toml")
echo "same path: build after restore ${t_same}s ($fresh_same)"

# Another path, the old checkout deleted.
rm -rf "$A"
B=$BENCH_DIR/b/elsewhere
git clone -q "$BENCH_DIR/origin.git" "$B"
(cd "$B/$WS" && "$STASH_BIN" restore --no-registry 2>&1 | grep 'will rebuild' || true)
t_moved=$(timed cargo build --manifest-path "$B/$WS/Cargo.toml")
rm -rf "$B" && git clone -q "$BENCH_DIR/origin.git" "$B"
(cd "$B/$WS" && "$STASH_BIN" restore --no-registry >/dev/null 2>&1)
echo "moved: build after restore ${t_moved}s ($(units "$B") on the second clone)"
