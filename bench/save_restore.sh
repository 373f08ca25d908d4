#!/usr/bin/env bash
# cargo-stash save/restore benchmark against the tar + zstd pipeline (what actions/cache
# does), on a real crates.io project, in one run on one machine.
#
#   bash bench/save_restore.sh            # 3 runs, writes docs/benchmarks.md
#   RUNS=5 BENCH_DIR=/tmp/x bash bench/save_restore.sh
#
# Environment (all optional):
#   BENCH_DIR      scratch dir, reused across reruns      (default /tmp/cargo-stash-bench)
#   RUNS           timed runs per measurement, median shown (default 3)
#   BENCH_CRATE    crates.io binary project              (default bat: ~3 min cold debug build
#                  on 2 cores, 130 units, C code in libgit2-sys and onig_sys build scripts)
#   BENCH_VERSION  its exact version                      (default 0.24.0)
#   STASH_BIN       cargo-stash binary to measure (default: build target/release/cargo-stash)
#   DOC_OUT        where to write the markdown            (default docs/benchmarks.md; "-" = none)
#   STASH_JOBS      passed as --jobs to cargo-stash         (default: cargo-stash's own default)
#
# Idempotent: the project's source and debug build are kept in BENCH_DIR and reused;
# everything else (stores, archives, clones) is recreated each run. Works with CI=true
# and no stdin. Needs: cargo, git, tar, zstd, /usr/bin/time, jq (or python3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/cargo-stash-bench}
RUNS=${RUNS:-3}
CRATE=${BENCH_CRATE:-bat}
VERSION=${BENCH_VERSION:-0.24.0}
DOC_OUT=${DOC_OUT:-$REPO/docs/benchmarks.md}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export CARGO_HOME
# The benchmark must find target dirs the way a user's job would: no overrides.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR CARGO_BUILD_BUILD_DIR CARGO_STASH_STORE \
      CARGO_STASH_SUFFIX CARGO_STASH_PREFIX CARGO_STASH_JOBS || true
export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
exec </dev/null

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in cargo git tar zstd; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (Debian: apt-get install time)"
if command -v jq >/dev/null; then
    jget() { jq -r "$2" "$1"; }
elif command -v python3 >/dev/null; then
    jget() {
        python3 - "$1" "$2" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
for part in sys.argv[2].lstrip('.').split('.'):
    v = v.get(part) if isinstance(v, dict) else None
print('null' if v is None else v)
EOF
    }
else
    die "jq or python3 is required to read cargo-stash --json output"
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
PROJ=$BENCH_DIR/project/$CRATE-$VERSION
WORK=$BENCH_DIR/work/$CRATE-$VERSION
RESULTS=$WORK/results.tsv

# --- cargo-stash binary ----------------------------------------------------------------
# Copied into BENCH_DIR so a concurrent rebuild of the repo cannot swap it mid-run.
STASH_BIN_GIVEN=${STASH_BIN:-}
if [[ -z "${STASH_BIN:-}" ]]; then
    log "building cargo-stash (release)"
    (cd "$REPO" && cargo build --release -p cargo-stash --quiet) ||
        die "cargo-stash build failed (set STASH_BIN=/path/to/cargo-stash to measure a given binary)"
    STASH_BIN=$REPO/target/release/cargo-stash
fi
[[ -x "$STASH_BIN" ]] || die "no cargo-stash binary at $STASH_BIN"
mkdir -p "$BENCH_DIR/bin"
cp -fp "$STASH_BIN" "$BENCH_DIR/bin/cargo-stash"
STASH=$BENCH_DIR/bin/cargo-stash
STASH_ARGS=()
[[ -n "${STASH_JOBS:-}" ]] && STASH_ARGS+=(--jobs "$STASH_JOBS")

# --- 1. the project: a real crates.io binary, as a git checkout, built once -----------
if [[ ! -d "$PROJ/.git" ]]; then
    log "fetching $CRATE $VERSION from crates.io"
    fetch=$BENCH_DIR/fetch
    rm -rf "$fetch" "$PROJ"
    mkdir -p "$fetch/src" "$(dirname "$PROJ")"
    cat >"$fetch/Cargo.toml" <<EOF
[package]
name = "stash-bench-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = "=$VERSION"
EOF
    : >"$fetch/src/lib.rs"
    (cd "$fetch" && cargo fetch --quiet) || die "cargo fetch failed"
    src=$(ls -d "$CARGO_HOME"/registry/src/*/"$CRATE-$VERSION" 2>/dev/null | head -n1 || true)
    if [[ -n "$src" ]]; then
        cp -a "$src" "$PROJ"
    else
        crate_file=$(ls "$CARGO_HOME"/registry/cache/*/"$CRATE-$VERSION.crate" | head -n1)
        [[ -n "$crate_file" ]] || die "$CRATE-$VERSION.crate not found in $CARGO_HOME/registry/cache"
        tar -xzf "$crate_file" -C "$(dirname "$PROJ")"
    fi
    rm -f "$PROJ/.cargo-ok" "$PROJ/.cargo_vcs_info.json"
    (cd "$PROJ" && { [[ -f Cargo.lock ]] || cargo generate-lockfile --quiet; })
    (cd "$PROJ" && git init -q && git add -A &&
        git -c user.name=bench -c user.email=bench@invalid commit -qm "$CRATE $VERSION from crates.io") \
        || die "git init of the project failed"
fi
log "building $CRATE $VERSION (debug; a no-op when already built)"
cold=$([[ -d "$PROJ/target/debug" ]] || echo yes)
t0=$(date +%s.%N)
(cd "$PROJ" && cargo build --locked >"$PROJ.build.log" 2>&1) || { tail -n 30 "$PROJ.build.log" >&2; die "cargo build of $CRATE failed"; }
[[ -n "$cold" ]] && since "$t0" >"$PROJ.cold-build-seconds"
COLD_BUILD_S=$(cat "$PROJ.cold-build-seconds" 2>/dev/null || echo nan)
TARGET=$PROJ/target

# --- helpers ----------------------------------------------------------------------------
mkdir -p "$WORK"
: >"$RESULTS"

# timed NAME RUN OUTFILE cmd...: wall seconds and peak RSS (kB) of cmd, appended to
# RESULTS. Dirty pages are flushed first so one step's writeback does not land in the
# next one's time. The page cache stays warm (it cannot be dropped here).
timed() {
    local name=$1 run=$2 out=$3
    shift 3
    sync
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$out" 2>"$WORK/stderr.txt" || rc=$?
    t1=$(date +%s.%N)
    if ((rc != 0)); then
        cat "$WORK/stderr.txt" >&2
        die "$name failed (exit $rc): $*"
    fi
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    printf '%s\t%s\t%s\t%s\n' "$name" "$run" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$rss" >>"$RESULTS"
}

# record NAME RUN VALUE: a non-timed number (bytes, counts).
record() { printf '%s\t%s\t%s\t\n' "$1" "$2" "$3" >>"$RESULTS"; }

# median NAME [col]: median of column 3 (seconds/value) or 4 (RSS) over timed runs.
median() {
    awk -F'\t' -v n="$1" -v c="${2:-3}" '$1 == n && $2 != "warmup" {print $c}' "$RESULTS" |
        sort -g | awk '{v[NR] = $1} END {
            if (NR == 0) { print "nan"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minof() {
    awk -F'\t' -v n="$1" '$1 == n && $2 != "warmup" {print $3}' "$RESULTS" | sort -g | head -n1
}
# t NAME: "median (min)" seconds of a timed step.
t() { awk -v m="$(median "$1")" -v l="$(minof "$1")" 'BEGIN { printf "%.2f (%.2f)", m, l }'; }
maxof() {
    awk -F'\t' -v n="$1" -v c="${2:-4}" '$1 == n && $2 != "warmup" {print $c}' "$RESULTS" |
        sort -g | tail -n1
}

# Commands, not functions: /usr/bin/time runs them.
TAR_CREATE=(tar --posix -I 'zstd -T0 -3' -cf)
TAR_EXTRACT=(bash -c 'zstd -d -T0 -q -c "$1" | tar -x -C "$2"' _)

fresh_clone() {
    rm -rf "$1"
    git clone -q "$PROJ" "$1"
}

# --- the sanitized copy: cargo-stash clean on a copy of target/ ------------------------
log "sanitized copy of target/ (cargo-stash clean on a copy)"
SAN=$WORK/sanitized
rm -rf "$SAN"
mkdir -p "$SAN"
cp -a "$TARGET" "$SAN/target"
CARGO_TARGET_DIR=$SAN/target "$STASH" clean --json --manifest-path "$PROJ/Cargo.toml" \
    >"$WORK/clean.json" || die "cargo-stash clean failed"

FULL_BYTES=$(du -sb "$TARGET" | cut -f1)
SAN_BYTES=$(du -sb "$SAN/target" | cut -f1)
FULL_FILES=$(find "$TARGET" -type f | wc -l)
SAN_FILES=$(find "$SAN/target" -type f | wc -l)

# one_round RUN: every measurement once. RUN=warmup is timed but left out of medians.
one_round() {
    local run=$1 store=$WORK/store-$1
    rm -rf "$store" "$WORK/stash-save.json" "$WORK"/*.tar.zst

    # first save of the project's target/ into an empty store
    timed stash_save "$run" "$WORK/save-$run.json" \
        "$STASH" "${STASH_ARGS[@]}" save --json --store "file://$store" --manifest-path "$PROJ/Cargo.toml"
    [[ $(jget "$WORK/save-$run.json" .outcome) == saved ]] || die "first save did not save: $(cat "$WORK/save-$run.json")"
    record stash_save_uploaded "$run" "$(jget "$WORK/save-$run.json" .bytes_uploaded)"
    record stash_save_total "$run" "$(jget "$WORK/save-$run.json" .bytes_total)"
    record stash_packs "$run" "$(jget "$WORK/save-$run.json" .packs)"
    record stash_store_bytes "$run" "$(du -sb "$store" | cut -f1)"
    record stash_store_disk "$run" "$(($(du -sk "$store" | cut -f1) * 1024))"
    record stash_store_objects "$run" "$(find "$store" -type f | wc -l)"

    # the tar pipeline on the same files, and on the whole target/
    timed tar_save_san "$run" /dev/null "${TAR_CREATE[@]}" "$WORK/san.tar.zst" -C "$SAN" target
    timed tar_save_full "$run" /dev/null "${TAR_CREATE[@]}" "$WORK/full.tar.zst" -C "$PROJ" target
    record tar_san_bytes "$run" "$(stat -c %s "$WORK/san.tar.zst")"
    record tar_full_bytes "$run" "$(stat -c %s "$WORK/full.tar.zst")"

    # restore (exact hit) into the empty target/ of a fresh clone
    local clone=$WORK/clone-exact
    fresh_clone "$clone"
    timed stash_restore "$run" "$WORK/restore-$run.json" \
        "$STASH" "${STASH_ARGS[@]}" restore --json --store "file://$store" --manifest-path "$clone/Cargo.toml"
    [[ $(jget "$WORK/restore-$run.json" .hit) == exact ]] || die "restore was not an exact hit: $(cat "$WORK/restore-$run.json")"
    [[ $(jget "$WORK/restore-$run.json" .packs_failed) == 0 ]] || die "restore skipped packs"
    record stash_restore_downloaded "$run" "$(jget "$WORK/restore-$run.json" .bytes_downloaded)"

    # the tar pipeline into empty dirs
    rm -rf "$WORK/untar-san" "$WORK/untar-full"
    mkdir -p "$WORK/untar-san" "$WORK/untar-full"
    timed tar_restore_san "$run" /dev/null "${TAR_EXTRACT[@]}" "$WORK/san.tar.zst" "$WORK/untar-san"
    timed tar_restore_full "$run" /dev/null "${TAR_EXTRACT[@]}" "$WORK/full.tar.zst" "$WORK/untar-full"

    # no-change save: restore with a new suffix (a fallback hit, as for a new commit in
    # CI), then save under that suffix into the same store. Nothing should go up.
    local nc=$WORK/clone-nochange
    fresh_clone "$nc"
    timed stash_restore_fallback "$run" "$WORK/restore-nc-$run.json" \
        "$STASH" "${STASH_ARGS[@]}" restore --json --store "file://$store" --suffix "nochange-$run" \
        --manifest-path "$nc/Cargo.toml"
    [[ $(jget "$WORK/restore-nc-$run.json" .hit) == fallback ]] || die "suffix restore was not a fallback hit"
    timed stash_save_nochange "$run" "$WORK/save-nc-$run.json" \
        "$STASH" "${STASH_ARGS[@]}" save --json --store "file://$store" --suffix "nochange-$run" \
        --manifest-path "$nc/Cargo.toml"
    [[ $(jget "$WORK/save-nc-$run.json" .outcome) == saved ]] || die "no-change save did not save: $(cat "$WORK/save-nc-$run.json")"
    record stash_nochange_uploaded "$run" "$(jget "$WORK/save-nc-$run.json" .bytes_uploaded)"
    record stash_nochange_skipped "$run" "$(jget "$WORK/save-nc-$run.json" .bytes_skipped)"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "warm-up round (timed, not counted)"
one_round warmup
for ((i = 1; i <= RUNS; i++)); do
    log "run $i of $RUNS"
    one_round "$i"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- sanity: the restored target/ holds the sanitized files, byte for byte -------------
log "checking the restored target/ against the sanitized copy"
listing() { (cd "$1" && find . -path ./.cargo-stash -prune -o \( -type f -o -type l \) -printf '%P\t%s\t%T@\n' | sort); }
listing "$SAN/target" >"$WORK/list-san.txt"
listing "$WORK/clone-exact/target" >"$WORK/list-restored.txt"
if diff -q "$WORK/list-san.txt" "$WORK/list-restored.txt" >/dev/null; then
    SANITY="identical file list, sizes and nanosecond mtimes ($(wc -l <"$WORK/list-san.txt") files)"
else
    SANITY="DIFFERS: $(diff "$WORK/list-san.txt" "$WORK/list-restored.txt" | grep -c '^[<>]') lines (see $WORK/list-*.txt)"
fi
if (cd "$SAN/target" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/sum-san.txt" &&
    (cd "$WORK/clone-exact/target" && find . -path ./.cargo-stash -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/sum-restored.txt" &&
    cmp -s "$WORK/sum-san.txt" "$WORK/sum-restored.txt"; then
    SANITY="$SANITY; contents identical (sha256)"
else
    SANITY="$SANITY; CONTENTS DIFFER (see $WORK/sum-*.txt)"
fi

# --- build after restore (one run; the clone is at another path, so the member rebuilds)
log "cargo build in the restored clone vs a no-op build"
fresh_units() {
    awk '/"reason":"compiler-artifact"/ { n++; if (/"fresh":true/) f++ } END { printf "%d/%d", f, n }' "$1"
}
t0=$(date +%s.%N)
(cd "$WORK/clone-exact" && cargo build --locked --message-format=json >"$WORK/build-restored.json" 2>/dev/null) ||
    die "build after restore failed"
BUILD_RESTORED_S=$(since "$t0")
BUILD_RESTORED_FRESH=$(fresh_units "$WORK/build-restored.json")
t0=$(date +%s.%N)
(cd "$PROJ" && cargo build --locked --message-format=json >"$WORK/build-noop.json" 2>/dev/null)
BUILD_NOOP_S=$(since "$t0")
BUILD_NOOP_FRESH=$(fresh_units "$WORK/build-noop.json")
REBUILT=$(awk '/"reason":"compiler-artifact"/ && /"fresh":false/' "$WORK/build-restored.json" |
    grep -o '"package_id":"[^"]*"' | sed 's/.*[/#]//; s/"$//' | sort -u | paste -sd, - || true)

# --- report -----------------------------------------------------------------------------
f2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1048576 }'; }
mb_rss() { awk -v v="$1" 'BEGIN { printf "%.0f MB", v * 1024 / 1e6 }'; }
verdict() { # verdict VALUE OP LIMIT
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? v <= l : (op == ">=") ? v >= l : v < l
        print ok ? "met" : "**not met**" }'
}

S_SAVE=$(median stash_save); T_SAVE_SAN=$(median tar_save_san); T_SAVE_FULL=$(median tar_save_full)
S_REST=$(median stash_restore); T_REST_SAN=$(median tar_restore_san); T_REST_FULL=$(median tar_restore_full)
S_REST_FB=$(median stash_restore_fallback); S_NC=$(median stash_save_nochange)
S_STORE=$(median stash_store_bytes); S_DISK=$(median stash_store_disk); S_OBJ=$(median stash_store_objects)
T_SAN_B=$(median tar_san_bytes); T_FULL_B=$(median tar_full_bytes)
S_UP=$(median stash_save_uploaded); S_TOTAL=$(median stash_save_total); S_PACKS=$(median stash_packs)
NC_UP=$(maxof stash_nochange_uploaded 3); NC_SKIP=$(median stash_nochange_skipped)
RSS_SAVE=$(maxof stash_save); RSS_REST=$(maxof stash_restore); RSS_NC=$(maxof stash_save_nochange)
RSS_TSAVE=$(maxof tar_save_san); RSS_TREST=$(maxof tar_restore_san)
SPEEDUP_NC=$(awk -v a="$S_SAVE" -v b="$S_NC" 'BEGIN { printf "%.1f", a / b }')
R_REST=$(awk -v a="$S_REST" -v b="$T_REST_SAN" 'BEGIN { print a / b }')
R_SAVE=$(awk -v a="$S_SAVE" -v b="$T_SAVE_SAN" 'BEGIN { print a / b }')
RSS_MAX=$(printf '%s\n' "$RSS_SAVE" "$RSS_REST" "$RSS_NC" | sort -g | tail -n1)

TABLE=$(cat <<EOF
| measurement | cargo-stash | tar+zstd, same files | ratio | tar+zstd, whole target/ | ratio |
|---|---:|---:|---:|---:|---:|
| first save, s | $(t stash_save) | $(t tar_save_san) | $(ratio "$S_SAVE" "$T_SAVE_SAN") | $(t tar_save_full) | $(ratio "$S_SAVE" "$T_SAVE_FULL") |
| restore into a fresh clone (exact hit), s | $(t stash_restore) | $(t tar_restore_san) | $(ratio "$S_REST" "$T_REST_SAN") | $(t tar_restore_full) | $(ratio "$S_REST" "$T_REST_FULL") |
| restore, fallback hit (new --suffix), s | $(t stash_restore_fallback) | $(t tar_restore_san) | $(ratio "$S_REST_FB" "$T_REST_SAN") | | |
| no-change save (after restore), s | $(t stash_save_nochange) | | | | |
| bytes stored | $(mib "$S_STORE") ($S_OBJ objects; $(mib "$S_DISK") on disk) | $(mib "$T_SAN_B") | $(ratio "$S_STORE" "$T_SAN_B") | $(mib "$T_FULL_B") | $(ratio "$S_STORE" "$T_FULL_B") |
| input (uncompressed) | $(mib "$S_TOTAL") in $S_PACKS packs | $(mib "$SAN_BYTES"), $SAN_FILES files | | $(mib "$FULL_BYTES"), $FULL_FILES files | |
| peak RSS, save | $(mb_rss "$RSS_SAVE") | $(mb_rss "$RSS_TSAVE") (largest process) | | | |
| peak RSS, restore | $(mb_rss "$RSS_REST") | $(mb_rss "$RSS_TREST") (largest process) | | | |
EOF
)

TARGETS=$(cat <<EOF
| target (issues 2 and 7) | measured | verdict |
|---|---|---|
| restore ≤ 1.0× tar pipeline (issue 2) | $(f2 "$R_REST")× | $(verdict "$R_REST" "<=" 1.0) |
| restore ≤ 0.7× tar pipeline (issue 7) | $(f2 "$R_REST")× | $(verdict "$R_REST" "<=" 0.7) |
| first save ≤ 1.0× tar pipeline | $(f2 "$R_SAVE")× | $(verdict "$R_SAVE" "<=" 1.0) |
| no-change save ≥ 10× faster than first save | $SPEEDUP_NC× faster, uploaded $NC_UP B (skipped $(mib "$NC_SKIP")) | $(verdict "$SPEEDUP_NC" ">=" 10) |
| peak RSS < 200 MB | $(mb_rss "$RSS_MAX") (max of save, restore, no-change save) | $(verdict "$((RSS_MAX * 1024))" "<" 200000000) |
EOF
)

CLEAN_CATS=$(jq -r '.categories | to_entries[] | "| \(.key) | \(.value.files) | \(.value.bytes / 1048576 * 10 | round / 10) MiB | \(.value.kept_bytes / 1048576 * 10 | round / 10) MiB |"' \
    "$WORK/clean.json" 2>/dev/null || echo "| (jq needed for this table) | | | |")

STASH_REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
STASH_DIRTY=$(cd "$REPO" && [[ -n $(git status --porcelain -- native core 2>/dev/null) ]] && echo " + uncommitted changes in native/ or core/" || true)
[[ -n "${STASH_BIN_GIVEN:-}" ]] && STASH_DIRTY="$STASH_DIRTY; binary given by STASH_BIN, built $(date -u -r "$STASH" +%Y-%m-%dT%H:%MZ), so possibly from an older tree"
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
FS=$(df -T "$BENCH_DIR" | awk 'NR == 2 {print $2}')
NOISY=""
if awk -v a="$LOAD_BEFORE" -v b="$LOAD_AFTER" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); exit !(x[1] > n || y[1] > n || x[2] > n || y[2] > n) }'; then
    NOISY=$'\n\n**This run shared the machine with other work (load average above the core count, see\nSetup): single timings varied by up to 2×, so treat ratios within ±30 % of a target as\nunsettled and rerun on an idle machine.**'
fi
CMD="bash bench/save_restore.sh"
[[ "$RUNS" != 3 ]] && CMD="RUNS=$RUNS $CMD"
[[ "$CRATE" != bat || "$VERSION" != 0.24.0 ]] && CMD="BENCH_CRATE=$CRATE BENCH_VERSION=$VERSION $CMD"
[[ -n "${STASH_JOBS:-}" ]] && CMD="STASH_JOBS=$STASH_JOBS $CMD"

DOC=$(cat <<EOF
# Benchmarks: save and restore against tar + zstd

Produced by \`$CMD\` (from the repo root) on $(date -u +%Y-%m-%d).
Times are "median (min)" of $RUNS runs after one warm-up round; ratios are of medians;
peak RSS is the maximum over the runs.$NOISY

## Setup

- Project: \`$CRATE $VERSION\` from crates.io (the published source, as a git checkout),
  built once with \`cargo build\` (debug, default features).
- Machine: $(nproc) cores ($CPU), $MEM RAM, $FS file system; $(uname -sr).
- Toolchain: $(rustc -V); $(cargo -V).
- Tools: $(tar --version | head -n1); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1);
  cargo-stash $STASH_REV$STASH_DIRTY (release build).
- cargo-stash stores into a fresh \`file://\` store per run (so every first save uploads
  everything). "Same files" is \`tar --posix -I 'zstd -T0 -3' -cf\` of a copy of target/
  sanitized with \`cargo-stash clean\` (incremental/ and \`*.d\` removed); "whole target/" is
  the same command on the unsanitized target/. Restores go into the empty target/ of a
  fresh \`git clone\` (cargo-stash) or an empty dir (\`zstd -d -T0 | tar -x\`).
- The page cache cannot be dropped here, so every step reads warm files; \`sync\` runs
  before each timed step so writeback of the previous one is not counted against it, but
  no step fsyncs its own output. The machine was not dedicated: other builds may have run
  concurrently (load average $LOAD_BEFORE before, $LOAD_AFTER after).

## Results

$TABLE

## Against the targets

$TARGETS

## Details

- Sanitization of target/ (\`cargo-stash clean\`):

  | category | files | size | kept |
  |---|---:|---:|---:|
$(printf '%s\n' "$CLEAN_CATS" | sed 's/^/  /')

- Restored target/ vs the sanitized copy: $SANITY.
- No-change save: restore with a new \`--suffix\` (a fallback hit, as for a new commit),
  then save under that suffix into the same store: uploaded $NC_UP bytes (max over runs),
  skipped $(mib "$NC_SKIP"); $(f2 "$S_NC") s vs $(f2 "$S_SAVE") s for the first save.
- Build right after the restore, in the fresh clone (one run): $(f2 "$BUILD_RESTORED_S") s,
  fresh units $BUILD_RESTORED_FRESH, rebuilt: ${REBUILT:-none}; a no-op build of the
  original checkout: $(f2 "$BUILD_NOOP_S") s, fresh $BUILD_NOOP_FRESH; the cold build when
  the benchmark first set up the project: $(f2 "$COLD_BUILD_S") s. (The clone is at
  another path, so workspace members rebuild by design: DESIGN §5.)
- Raw numbers: \`$RESULTS\` (name, run, seconds or value, peak RSS kB).
EOF
)

echo
echo "$TABLE"
echo
echo "$TARGETS"
if [[ "$DOC_OUT" != - ]]; then
    mkdir -p "$(dirname "$DOC_OUT")"
    printf '%s\n' "$DOC" >"$DOC_OUT"
    log "wrote $DOC_OUT"
fi
