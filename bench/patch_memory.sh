#!/usr/bin/env bash
# Peak memory with a huge unit (issue 17, item 3): a 1 GiB debug-binary-like file saved,
# restored, changed in scattered places (and shifted by an insertion), saved again as a
# patch against the 1 GiB base, and that patch restored. Peak RSS of each command, from
# /usr/bin/time -v; the target is < 200 MB whatever the unit's size.
#
#   bash bench/patch_memory.sh
#
# Environment (all optional):
#   SIZE_MIB   size of the synthetic file in MiB                    (default 1024)
#   STASH_BIN  cargo-stash binary (default target/release/cargo-stash, else target/debug)
#   BENCH_DIR  scratch dir, recreated and removed at the end         (default /tmp/cargo-stash-patchmem)
# Needs about 6 × SIZE_MIB of free disk. Prints one line per command; nothing is written
# to the repo.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
BENCH_DIR=${BENCH_DIR:-/tmp/cargo-stash-patchmem}
STASH_BIN=${STASH_BIN:-$REPO/target/release/cargo-stash}
[[ -x $STASH_BIN ]] || STASH_BIN=$REPO/target/debug/cargo-stash
[[ -x $STASH_BIN ]] || { echo "build cargo-stash first" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (GNU time) for peak RSS" >&2; exit 1; }
unset CARGO_TARGET_DIR CARGO_BUILD_BUILD_DIR CARGO_STASH_STORE || true
export CI=true CARGO_TERM_COLOR=never CARGO_STASH_STORE="file://$BENCH_DIR/store"

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
trap 'rm -rf "$BENCH_DIR"' EXIT

# The base: 4 KiB pages of random code-like bytes and zeros (about 2:1 under zstd, like
# a debug binary); the variant: 16 bytes changed in every 4 MiB and 4 KiB inserted in
# the middle, which shifts the second half as a relink does.
python3 - "$BENCH_DIR" "$SIZE_MIB" <<'EOF'
import os, random, sys
out, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(17)
chunk = 4 << 20
with open(f"{out}/base.bin", "wb") as f:
    for _ in range(mib // 4):
        f.write(b"".join(os.urandom(2048) + bytes(2048) for _ in range(chunk // 4096)))
with open(f"{out}/base.bin", "rb") as src, open(f"{out}/new.bin", "wb") as dst:
    for n in range(mib // 4):
        block = bytearray(src.read(chunk))
        for _ in range(16):
            block[rng.randrange(len(block))] ^= 0x5A
        if n == mib // 8:
            block[len(block) // 2:len(block) // 2] = os.urandom(4096)
        dst.write(block)
EOF

# A one-crate project whose binary is replaced by the synthetic file.
P=$BENCH_DIR/proj
cargo new -q --vcs none --bin big "$P" 2>/dev/null || cargo new -q --vcs none --name big "$P"
git -C "$P" init -qb main && git -C "$P" add -A
git -C "$P" -c user.name=b -c user.email=b@b commit -qm big
(cd "$P" && cargo build -q)
exe() { find "$1/target/debug/deps" -maxdepth 1 -type f -name 'big-*' ! -name '*.d' | head -1; }
# In place: target/debug/big is a hard link of the same inode.
cp "$BENCH_DIR/base.bin" "$(exe "$P")"

# Runs cargo-stash in $1 with the rest as arguments; prints wall time, peak RSS and
# the fields of its JSON output named in $FIELDS.
measure() {
    local dir=$1 what=$2; shift 2
    local log=$BENCH_DIR/time.log json=$BENCH_DIR/out.json
    (cd "$dir" && /usr/bin/time -v "$STASH_BIN" "$@" --json >"$json" 2>"$log")
    local rss wall
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$log")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$log")
    local extra
    extra=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(f'{k}={d.get(k)}' for k in sys.argv[2:]))" "$json" ${FIELDS:-})
    printf '%-34s peak RSS %4s MB  wall %s  %s\n' "$what" "$rss" "$wall" "$extra"
}

# Every command runs at the same checkout path (the checkout moved aside, a fresh clone
# put there), as CI does: a unit the relocation scan cannot read (this file is no real
# executable) is path-bound and would be left out at another path.
echo "synthetic unit: ${SIZE_MIB} MiB; cargo-stash: $STASH_BIN"
FIELDS="packs_uploaded bytes_uploaded" measure "$P" "first save" save --no-registry --suffix one
mv "$P" "$BENCH_DIR/orig"
git clone -q "$BENCH_DIR/orig" "$P"
FIELDS="hit packs_failed bytes_written" measure "$P" "restore (whole pack)" restore --no-registry --suffix one
cp "$BENCH_DIR/new.bin" "$(exe "$P")"
FIELDS="packs_uploaded packs_patched bytes_uploaded" \
    measure "$P" "delta save (patch, 1 base)" save --no-registry --keep-unused --suffix two
mv "$P" "$BENCH_DIR/c1"
git clone -q "$BENCH_DIR/orig" "$P"
FIELDS="hit packs_failed bytes_downloaded bytes_written" \
    measure "$P" "restore of the patch" restore --no-registry --suffix two
if cmp -s "$(exe "$P")" "$BENCH_DIR/new.bin"; then
    echo "restored file: byte-identical to the variant"
else
    echo "restored file DIFFERS from the variant" >&2
    exit 1
fi
