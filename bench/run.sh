#!/usr/bin/env bash
# The cargo-stash benchmark suite (issue 7): one command, real crates.io projects, cargo-stash
# beside the tools users would pick instead, in the same run; medians, ratios, targets.
#
#   bash bench/run.sh                      # RUNS=3; writes docs/benchmarks.md
#   RUNS=5 BENCH_DIR=/tmp/x bash bench/run.sh
#
# Projects (built once, reused under BENCH_DIR on later runs):
#   bat      bat 0.24.0 from crates.io: a single-package binary, 130 units, C code in the
#            build scripts of libgit2-sys and onig_sys.
#   ws       a 4-member workspace: tests/fixtures/workspace (proc-macro member, member build
#            script writing OUT_DIR, bzip2-sys C build) plus a member `cli` on zstd (zstd-sys
#            C build), tokio, regex and anyhow (build script).
#
# What is measured, per project unless noted (all through a local file:// store unless 6):
#   1. first save / restore time and stored bytes vs `tar --posix -I 'zstd -T0 -3'` of the same
#      (sanitized) files and of the whole target/, and `zstd -d -T0 | tar -x` restores;
#   2. no-change save: restore (new --suffix) into a fresh clone, no-op build, save;
#   3. delta save after one `cargo update -p DEP --precise OLDER` + build (once);
#   4. the build after a restore into a fresh clone at the SAME path (rm -rf, git clone,
#      restore, cargo build) vs a no-op build vs the cold build, with fresh/rebuilt units;
#   5. peak RSS (/usr/bin/time -v) of save/restore and scaling when the cache doubles
#      (bat's target and ws's target merged into one target dir: two projects, one target);
#   6. save/restore through SeaweedFS (S3) vs local at several --jobs (scripts/servers.sh);
#   7. key computation native vs wasm for a 5,000-package lockfile (scripts/bench-key.sh).
#
# Environment (all optional):
#   BENCH_DIR   scratch dir, reused across reruns      (default /tmp/cargo-stash-bench)
#   RUNS        timed runs per measurement (median)     (default 3; plus one warm-up round)
#   STASH_BIN    cargo-stash binary (default: cargo build --release -p cargo-stash)
#   DOC_OUT     markdown output (default docs/benchmarks.md; "-" = stdout only)
#   S3_JOBS     --jobs values for the S3 comparison     (default "2 8 16"; "" skips it)
#   SKIP_KEY=1  skip the key benchmark
#   SETTLE      seconds to wait after deleting the last round's trees (default 30)
#   PREHEAT     MiB of memory touched and freed before each timed step (default 2048; 0 = off)
#   PROJECTS    subset of "bat ws"                     (default both)
#
# Idempotent, CI=true and no stdin are fine. Needs cargo, git, tar, zstd, jq, /usr/bin/time,
# node (key benchmark), python3 (servers). The checkout being measured is moved aside while
# a fresh clone takes its path and is put back on exit, also on failure or Ctrl-C.
set -euo pipefail
# The whole script is one block, read before it runs: editing this file mid-run is safe.
{
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/cargo-stash-bench}
RUNS=${RUNS:-3}
DOC_OUT=${DOC_OUT:-$REPO/docs/benchmarks.md}
S3_JOBS=${S3_JOBS-2 8 16}
PROJECTS=${PROJECTS:-bat ws}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export CARGO_HOME CI=true
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR CARGO_BUILD_BUILD_DIR CARGO_STASH_STORE \
      CARGO_STASH_SUFFIX CARGO_STASH_PREFIX CARGO_STASH_JOBS CARGO_STASH_NO_REGISTRY \
      CARGO_STASH_KEEP_UNUSED CARGO_STASH_NO_MTIME || true
export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
exec </dev/null

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

for tool in cargo git tar zstd jq; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (Debian: apt-get install time)"

LOAD_START=$(loadavg)
T_START=$(date +%s.%N)
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
W=$BENCH_DIR/work/suite
mkdir -p "$W"
RESULTS=$W/results.tsv
# REPORT_ONLY=1: rewrite the report from the last run's results (no measurement).
[[ -n "${REPORT_ONLY:-}" ]] || : >"$RESULTS"
cd "$BENCH_DIR" # no .cargo/config.toml of the caller's directory may leak into the builds

# --- checkouts are swapped for fresh clones at the same path; always put them back ------
SWAPPED=()
swap_back_all() {
    local p
    for p in "${SWAPPED[@]}"; do
        if [[ -d "$p.orig" ]]; then rm -rf "$p"; mv "$p.orig" "$p"; fi
    done
}
# Trees are deleted outside the timed steps. On ext4 the inode allocator slows down for
# seconds after a mass delete (the kernel skips recently freed inodes; about a third of
# a restore's CPU when measured right after `rm -rf` of the previous clone), which would
# fall on whichever side happened to run right after a delete.
TRASH=$W/trash
trash() {
    local d
    mkdir -p "$TRASH"
    for d in "$@"; do
        if [[ -e "$d" ]]; then mv "$d" "$TRASH/$(date +%s%N)-$RANDOM"; fi
    done
}
empty_trash() { rm -rf "$TRASH"; }
# Before each round: delete the last round's trees, and wait until freed inodes no longer
# count as recently deleted and their pages are written back, so that neither side of a
# timed step pays for the last one's deletes or for a page cache full of dead trees.
SETTLE=${SETTLE:-30}
settle_fs() { empty_trash; sync; sleep "$SETTLE"; }
# This machine is a VM that hands freed memory back to its host (virtio-balloon free page
# reporting; kdamond runs too). A page handed back costs a host fault when next touched,
# and the kernel seems to hand out such pages only once its recently freed ones run out: each
# timed step wrote into colder memory than the one before it: within a round, copying
# into the page cache took 15 % of a restore's CPU in the first steps and 45-50 % by
# cargo-stash's restore, which ran after both tar restores (perf record; the second of
# two back-to-back tar restores of the same size was 1.5x slower than the first).
# Touching and freeing PREHEAT MiB right before every timed step gives each one the same
# warm memory, whatever ran before it.
PREHEAT=${PREHEAT:-2048}
# The same VM pages out page cache it sees as cold (kdamond's DAMON "pageout" scheme): a
# save of bat read 70 MB back from disk when its inputs had sat for a minute, 15 MB right
# after. `WARM="dir..." timed ...` reads a step's inputs first, so that "page cache warm"
# holds for both sides rather than for whichever read the files last.
warm_inputs() {
    local d
    for d in ${WARM:-}; do
        [[ -e "$d" ]] && find "$d" -type f -print0 | xargs -0r cat >/dev/null
    done
    return 0
}
preheat() {
    ((PREHEAT > 0)) || return 0
    python3 -c "b = b'\\x01' * ($PREHEAT << 20)" || die "preheat failed (python3 needed; PREHEAT=0 skips it)"
}
STARTED_SERVERS=
cleanup() {
    swap_back_all
    empty_trash
    if [[ -n "$STARTED_SERVERS" ]]; then bash "$REPO/scripts/servers.sh" stop >&2 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A run killed hard (SIGKILL) may have left a checkout aside: recover it first.
for d in "$BENCH_DIR"/project/*.orig; do
    [[ -d "$d" ]] || continue
    log "recovering ${d%.orig} from an interrupted run"
    rm -rf "${d%.orig}"; mv "$d" "${d%.orig}"
done

# --- cargo-stash binary (copied so a concurrent rebuild cannot swap it mid-run) -----------
STASH_BIN_GIVEN=${STASH_BIN:-}
if [[ -z "$STASH_BIN_GIVEN" ]]; then
    log "building cargo-stash (release)"
    (cd "$REPO" && cargo build --release -p cargo-stash --quiet) || die "cargo-stash build failed"
    STASH_BIN=$REPO/target/release/cargo-stash
fi
mkdir -p "$BENCH_DIR/bin"
cp -f "$STASH_BIN" "$BENCH_DIR/bin/cargo-stash"
STASH=$BENCH_DIR/bin/cargo-stash

# --- helpers ------------------------------------------------------------------------------
# timed NAME RUN OUT cmd...: wall seconds, peak RSS (kB) and the 1-min load average.
timed() {
    local name=$1 run=$2 out=$3; shift 3
    warm_inputs
    preheat
    sync
    local t0 rc=0 secs rss cpu
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$W/time.txt" "$@" >"$out" 2>"$W/stderr.txt" || rc=$?
    secs=$(since "$t0")
    if ((rc != 0)); then
        tail -n 30 "$W/stderr.txt" >&2
        die "$name (run $run) failed with exit code $rc: $*"
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.3f", s}' "$W/time.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$secs" "$rss" "$(cut -d' ' -f1 /proc/loadavg)" "$cpu" >>"$RESULTS"
}
record() { printf '%s\t%s\t%s\t\t\n' "$1" "$2" "$3" >>"$RESULTS"; }
vals() { awk -F'\t' -v n="$1" -v c="${2:-3}" '$1 == n && $2 != "warmup" && $c != "" {print $c}' "$RESULTS"; }
median() {
    vals "$1" "${2:-3}" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minof() { vals "$1" | sort -g | head -n1; }
maxof() { vals "$1" "${2:-4}" | sort -g | tail -n1; }
one() { vals "$1" | tail -n1; } # the (single) value of a once-only record
f2() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.2f", v }'; }
t() { awk -v m="$(median "$1")" -v l="$(minof "$1")" 'BEGIN { if (m == "nan") print "n/a"; else printf "%.2f (%.2f)", m, l }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f×", a / b; else print "n/a" }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") print a / b; else print "nan" }'; }
mib() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.1f MiB", v / 1048576 }'; }
mb_rss() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f MB", v * 1024 / 1e6 }'; }
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    if (v == "nan" || v == "") { print "not measured"; exit }
    ok = (op == "<=") ? v <= l : (op == ">=") ? v >= l : v < l
    print ok ? "met" : "**not met**" }'; }
units() { awk '/"reason":"compiler-artifact"/ { n++; if (/"fresh":true/) f++ } END { printf "%d %d", f + 0, n + 0 }' "$1"; }
rebuilt_list() {
    { grep '"reason":"compiler-artifact"' "$1" | grep '"fresh":false' || true; } |
        { grep -o '"package_id":"[^"]*"' || true; } | sed 's/.*[/#]//; s/"$//' | sort -u | paste -sd, -
}
jfield() { jq -r "$2 // empty" "$1" 2>/dev/null || true; }

TAR_CREATE=(tar --posix -I 'zstd -T0 -3' -cf)
TAR_EXTRACT=(bash -c 'zstd -d -T0 -q -c "$1" | tar -x -C "$2"' _)

# --- projects -----------------------------------------------------------------------------
commit_all() { git init -q && git add -A && git -c user.name=bench -c user.email=bench@invalid commit -qm "$1"; }

setup_bat() { # the published bat 0.24.0 as a git checkout (same as bench/save_restore.sh)
    local proj=$1
    [[ -d "$proj/.git" ]] && return 0
    log "fetching bat 0.24.0 from crates.io"
    local fetch=$BENCH_DIR/fetch
    rm -rf "$fetch" "$proj"; mkdir -p "$fetch/src" "$(dirname "$proj")"
    printf '[package]\nname = "stash-bench-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\nbat = "=0.24.0"\n' >"$fetch/Cargo.toml"
    : >"$fetch/src/lib.rs"
    (cd "$fetch" && cargo fetch --quiet) || die "cargo fetch failed"
    local crate_file
    crate_file=$(ls "$CARGO_HOME"/registry/cache/*/bat-0.24.0.crate | head -n1)
    tar -xzf "$crate_file" -C "$(dirname "$proj")"
    [[ "$(dirname "$proj")/bat-0.24.0" == "$proj" ]] || mv "$(dirname "$proj")/bat-0.24.0" "$proj"
    rm -f "$proj/.cargo-ok" "$proj/.cargo_vcs_info.json"
    (cd "$proj" && { [[ -f Cargo.lock ]] || cargo generate-lockfile --quiet; } && commit_all "bat 0.24.0 from crates.io")
}

setup_ws() { # the fixture workspace plus a heavier member, locked once
    local proj=$1
    [[ -d "$proj/.git" ]] && return 0
    log "assembling the workspace project"
    rm -rf "$proj"; mkdir -p "$(dirname "$proj")"
    cp -r "$REPO/tests/fixtures/workspace" "$proj"
    rm -rf "$proj/target"
    sed -i 's/members = \["app", "util", "derive"\]/members = ["app", "util", "derive", "cli"]/' "$proj/Cargo.toml"
    grep -q '"cli"' "$proj/Cargo.toml" || die "could not add the cli member to the fixture workspace"
    mkdir -p "$proj/cli/src"
    cat >"$proj/cli/Cargo.toml" <<'EOF'
[package]
name = "cli"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
util = { path = "../util" }
anyhow = "1"
regex = "1"
zstd = "0.13"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "fs", "io-util"] }
EOF
    cat >"$proj/cli/src/main.rs" <<'EOF'
use anyhow::Result;

#[tokio::main]
async fn main() -> Result<()> {
    let re = regex::Regex::new(r"(\w+)=(\d+)")?;
    let text = std::env::args().nth(1).unwrap_or_else(|| "a=1 b=2".into());
    let packed = zstd::encode_all(text.as_bytes(), 3)?;
    let back = zstd::decode_all(&packed[..])?;
    tokio::fs::write(std::env::temp_dir().join("stash-bench-cli.txt"), &back).await?;
    for c in re.captures_iter(&text) {
        println!("{} -> {}", &c[1], &c[2]);
    }
    Ok(())
}
EOF
    (cd "$proj" && cargo generate-lockfile --quiet && commit_all "workspace fixture + cli member") ||
        die "could not lock the workspace project"
}

declare -A PROJ BUMP
PROJ[bat]=$BENCH_DIR/project/bat-0.24.0
PROJ[ws]=$BENCH_DIR/project/ws
BUMP[bat]=${BUMP_BAT:-semver@1.0.16}    # semver 1.0.17 (a build script) -> 1.0.16, used by bat only
BUMP[ws]=${BUMP_WS:-anyhow@1.0.90}      # anyhow (a build script) used by the cli member

for p in $PROJECTS; do
    [[ -n "${REPORT_ONLY:-}" ]] && break
    proj=${PROJ[$p]}
    "setup_$p" "$proj"
    if [[ ! -d "$proj/target/debug" ]]; then
        log "cold build of $p (once; reused by later runs)"
        l0=$(loadavg); t0=$(date +%s.%N)
        (cd "$proj" && cargo build --locked --message-format=json >"$proj.cold-build.json" 2>"$proj.cold-build.log") ||
            { tail -n 30 "$proj.cold-build.log" >&2; die "cold build of $p failed"; }
        since "$t0" >"$proj.cold-build-seconds"
        echo "$l0 / $(loadavg)" >"$proj.cold-build-load"
    else
        log "$p: reusing the build in $proj/target"
        (cd "$proj" && cargo build --locked >"$proj.build.log" 2>&1) || { tail -n 30 "$proj.build.log" >&2; die "build of $p failed"; }
    fi
done

fresh_clone_at() { # replace checkout $1 by a fresh clone of its original (kept in $1.orig)
    local proj=$1
    if [[ ! -d "$proj.orig" ]]; then
        mv "$proj" "$proj.orig"
        SWAPPED+=("$proj")
    fi
    trash "$proj"
    git clone -q "$proj.orig" "$proj"
}
swap_back() { trash "$1"; mv "$1.orig" "$1"; }

# --- one project ------------------------------------------------------------------------
bench_project() {
    local p=$1 proj=${PROJ[$1]}
    local pw=$W/$p
    rm -rf "$pw"; mkdir -p "$pw"
    local san=$pw/sanitized
    log "$p: sanitized copy of target/ (cargo-stash clean on a copy)"
    cp -a "$proj/target" "$san"
    rm -rf "$san/.cargo-stash"
    CARGO_TARGET_DIR=$san "$STASH" clean --json --manifest-path "$proj/Cargo.toml" >"$pw/clean.json" ||
        die "cargo-stash clean failed"
    rm -rf "$san/.cargo-stash"
    record "$p.full_bytes" once "$(du -sb --exclude=.cargo-stash "$proj/target" | cut -f1)"
    record "$p.full_files" once "$(find "$proj/target" -path "$proj/target/.cargo-stash" -prune -o -type f -print | wc -l)"
    record "$p.san_bytes" once "$(du -sb "$san" | cut -f1)"
    record "$p.san_files" once "$(find "$san" -type f | wc -l)"

    local run
    for run in warmup $(seq 1 "$RUNS"); do
        settle_fs
        log "$p: round $run"
        local store=$pw/store-$run
        rm -rf "$store" "$pw"/*.tar.zst "$proj/target/.cargo-stash/state.json"
        # 1. first save into an empty store
        WARM="$proj/target" timed "$p.stash_save" "$run" "$pw/save-$run.json" \
            "$STASH" save --json --no-registry --store "file://$store" --manifest-path "$proj/Cargo.toml"
        [[ $(jfield "$pw/save-$run.json" .outcome) == saved ]] || die "first save did not save: $(cat "$pw/save-$run.json")"
        record "$p.save_uploaded" "$run" "$(jfield "$pw/save-$run.json" .bytes_uploaded)"
        record "$p.save_total" "$run" "$(jfield "$pw/save-$run.json" .bytes_total)"
        record "$p.save_packs" "$run" "$(jfield "$pw/save-$run.json" .packs)"
        record "$p.store_bytes" "$run" "$(du -sb "$store" | cut -f1)"
        WARM="$pw/sanitized" timed "$p.tar_save_san" "$run" /dev/null "${TAR_CREATE[@]}" "$pw/san.tar.zst" -C "$pw" sanitized
        WARM="$proj/target" timed "$p.tar_save_full" "$run" /dev/null "${TAR_CREATE[@]}" "$pw/full.tar.zst" -C "$proj" --exclude=target/.cargo-stash target
        record "$p.tar_san_bytes" "$run" "$(stat -c %s "$pw/san.tar.zst")"
        record "$p.tar_full_bytes" "$run" "$(stat -c %s "$pw/full.tar.zst")"
        trash "$pw/untar-san" "$pw/untar-full"; mkdir -p "$pw/untar-san" "$pw/untar-full"
        WARM="$pw/san.tar.zst" timed "$p.tar_restore_san" "$run" /dev/null "${TAR_EXTRACT[@]}" "$pw/san.tar.zst" "$pw/untar-san"
        WARM="$pw/full.tar.zst" timed "$p.tar_restore_full" "$run" /dev/null "${TAR_EXTRACT[@]}" "$pw/full.tar.zst" "$pw/untar-full"
        trash "$pw/untar-san" "$pw/untar-full"

        # 4. the no-op build of the original checkout
        timed "$p.build_noop" "$run" "$pw/build-noop-$run.json" \
            cargo build --locked --message-format=json --manifest-path "$proj/Cargo.toml"

        # 1./4. exact-hit restore into a fresh clone at the same path, then build
        fresh_clone_at "$proj"
        WARM="$store" timed "$p.stash_restore" "$run" "$pw/restore-$run.json" \
            "$STASH" restore --json --no-registry --store "file://$store" --manifest-path "$proj/Cargo.toml"
        [[ $(jfield "$pw/restore-$run.json" .hit) == exact ]] || die "restore was not an exact hit: $(cat "$pw/restore-$run.json")"
        [[ $(jfield "$pw/restore-$run.json" .packs_failed) == 0 ]] || die "restore skipped packs"
        # Cargo's fingerprint log names the file that made a unit stale (silent when fresh).
        timed "$p.build_after_exact" "$run" "$pw/build-exact-$run.json" \
            env CARGO_LOG=cargo::core::compiler::fingerprint=info \
            cargo build --locked --message-format=json --manifest-path "$proj/Cargo.toml"
        cp "$W/stderr.txt" "$pw/build-exact-$run.log"

        # 2./4. new commit: restore with a new --suffix (fallback hit), build, save
        fresh_clone_at "$proj"
        WARM="$store" timed "$p.stash_restore_fallback" "$run" "$pw/restore-nc-$run.json" \
            "$STASH" restore --json --no-registry --store "file://$store" --suffix "nc-$run" --manifest-path "$proj/Cargo.toml"
        [[ $(jfield "$pw/restore-nc-$run.json" .hit) == fallback ]] || die "suffix restore was not a fallback hit: $(cat "$pw/restore-nc-$run.json")"
        timed "$p.build_after_restore" "$run" "$pw/build-restored-$run.json" \
            cargo build --locked --message-format=json --manifest-path "$proj/Cargo.toml"
        "$STASH" stats --json --manifest-path "$proj/Cargo.toml" >"$pw/stats-$run.json" 2>/dev/null || true
        WARM="$proj/target" timed "$p.stash_save_nochange" "$run" "$pw/save-nc-$run.json" \
            "$STASH" save --json --no-registry --store "file://$store" --suffix "nc-$run" --manifest-path "$proj/Cargo.toml"
        [[ $(jfield "$pw/save-nc-$run.json" .outcome) == saved ]] || die "no-change save did not save: $(cat "$pw/save-nc-$run.json")"
        record "$p.nc_uploaded" "$run" "$(jfield "$pw/save-nc-$run.json" .bytes_uploaded)"
        record "$p.nc_packs_uploaded" "$run" "$(jfield "$pw/save-nc-$run.json" .packs_uploaded)"
        record "$p.nc_unused" "$run" "$(jfield "$pw/save-nc-$run.json" .units_unused)"
        swap_back "$proj"
        SWAPPED=("${SWAPPED[@]/$proj/}")
        # keep the newest store only (the delta and scaling steps use it)
        [[ "$run" == warmup ]] || trash "$pw/store-warmup"
        if [[ "$run" != warmup && "$run" -gt 1 ]]; then trash "$pw/store-$((run - 1))"; fi
    done
    trash "$san" "$pw"/*.tar.zst

    # 3. delta save after one dependency bump, in a fresh clone at the same path (once)
    local store=$pw/store-$RUNS dep=${BUMP[$p]%@*} ver=${BUMP[$p]#*@}
    log "$p: delta save after cargo update -p $dep --precise $ver"
    # As in CI: the new commit carries the bumped Cargo.lock; restore falls back to the
    # snapshot of the old lockfile; one build; save.
    fresh_clone_at "$proj"
    local old
    old=$(awk -v d="$dep" '$0 == "name = \"" d "\"" { getline; gsub(/[^0-9.]/, ""); print; exit }' "$proj/Cargo.lock")
    (cd "$proj" && cargo update -q -p "$dep" --precise "$ver") || die "cargo update -p $dep --precise $ver failed"
    record "$p.bump" once "$dep $old -> $ver"
    "$STASH" restore --json --no-registry --store "file://$store" --suffix delta --manifest-path "$proj/Cargo.toml" >"$pw/restore-delta.json"
    [[ $(jfield "$pw/restore-delta.json" .hit) == fallback ]] || die "restore after the bump was not a fallback hit: $(cat "$pw/restore-delta.json")"
    timed "$p.delta_build" once "$pw/build-delta.json" cargo build --locked --message-format=json --manifest-path "$proj/Cargo.toml"
    timed "$p.delta_save" once "$pw/save-delta.json" \
        "$STASH" save --json --no-registry --store "file://$store" --suffix delta --manifest-path "$proj/Cargo.toml"
    record "$p.delta_uploaded" once "$(jfield "$pw/save-delta.json" .bytes_uploaded)"
    record "$p.delta_packs_uploaded" once "$(jfield "$pw/save-delta.json" .packs_uploaded)"
    record "$p.delta_packs" once "$(jfield "$pw/save-delta.json" .packs)"
    record "$p.delta_unused" once "$(jfield "$pw/save-delta.json" .units_unused)"
    record "$p.delta_rebuilt" once "$(rebuilt_list "$pw/build-delta.json")"
    record "$p.delta_patched" once "$(jfield "$pw/save-delta.json" .packs_patched)"
    # The delta snapshot restored into a fresh clone of the bumped commit: patches fetch
    # their bases. Its build must be a no-op.
    fresh_clone_at "$proj"
    (cd "$proj" && cargo update -q -p "$dep" --precise "$ver") || die "cargo update -p $dep --precise $ver failed"
    timed "$p.delta_restore" once "$pw/restore-delta2.json" \
        "$STASH" restore --json --no-registry --store "file://$store" --suffix delta --manifest-path "$proj/Cargo.toml"
    [[ $(jfield "$pw/restore-delta2.json" .hit) == exact && $(jfield "$pw/restore-delta2.json" .packs_failed) == 0 ]] ||
        die "restore of the delta snapshot failed: $(cat "$pw/restore-delta2.json")"
    record "$p.delta_restore_down" once "$(jfield "$pw/restore-delta2.json" .bytes_downloaded)"
    timed "$p.delta_restore_build" once "$pw/build-delta2.json" cargo build --locked --message-format=json --manifest-path "$proj/Cargo.toml"
    swap_back "$proj"
    SWAPPED=("${SWAPPED[@]/$proj/}")

    # registry layer (default on; left out above so both sides hold the same files): once
    log "$p: save with the registry layer (once)"
    rm -rf "$pw/store-reg" "$proj/target/.cargo-stash/state.json"
    timed "$p.save_with_registry" once "$pw/save-reg.json" \
        "$STASH" save --json --store "file://$pw/store-reg" --manifest-path "$proj/Cargo.toml"
    record "$p.reg_uploaded" once "$(jfield "$pw/save-reg.json" .registry.bytes_uploaded)"
    record "$p.reg_packs" once "$(jfield "$pw/save-reg.json" .registry.packs)"
    record "$p.reg_total" once "$(jfield "$pw/save-reg.json" .registry.bytes_total)"
    rm -rf "$pw/store-reg"
    settle_fs
}

[[ -n "${REPORT_ONLY:-}" ]] || for p in $PROJECTS; do bench_project "$p"; done

# --- 5. scaling: one project's target vs two projects in one target dir ----------------------
SCALE=
if [[ -n "${REPORT_ONLY:-}" ]]; then
    grep -q '^scale.double_save' "$RESULTS" && SCALE=1
elif [[ " $PROJECTS " == *" bat "* && " $PROJECTS " == *" ws "* ]]; then
    SCALE=1
    log "scaling: bat's target alone vs bat + ws merged into one target dir"
    sw=$W/scale
    rm -rf "$sw"; mkdir -p "$sw"
    cp -a "${PROJ[bat]}/target" "$sw/single"
    cp -a "${PROJ[bat]}/target" "$sw/double"
    cp -a -n "${PROJ[ws]}/target/." "$sw/double/"
    rm -rf "$sw/single/.cargo-stash" "$sw/double/.cargo-stash"
    record scale.single_bytes once "$(du -sb "$sw/single" | cut -f1)"
    record scale.double_bytes once "$(du -sb "$sw/double" | cut -f1)"
    for run in warmup $(seq 1 "$RUNS"); do
        for size in single double; do
            st=$sw/store-$size-$run
            rm -rf "$st" "$sw/restored"; mkdir -p "$sw/restored"
            rm -f "$sw/$size/.cargo-stash/state.json"
            timed "scale.${size}_save" "$run" "$sw/save-$size-$run.json" env CARGO_TARGET_DIR="$sw/$size" \
                "$STASH" save --json --no-registry --store "file://$st" --manifest-path "${PROJ[bat]}/Cargo.toml"
            record "scale.${size}_total" "$run" "$(jfield "$sw/save-$size-$run.json" .bytes_total)"
            timed "scale.${size}_restore" "$run" "$sw/restore-$size-$run.json" env CARGO_TARGET_DIR="$sw/restored" \
                "$STASH" restore --json --no-registry --no-mtime --store "file://$st" --manifest-path "${PROJ[bat]}/Cargo.toml"
            [[ $(jfield "$sw/restore-$size-$run.json" .hit) == exact ]] || die "scale restore missed"
            rm -rf "$st"
        done
    done
    rm -rf "$sw"
fi

# --- 6. S3 (SeaweedFS) vs local at several --jobs ---------------------------------------------
S3_DONE=
if [[ -n "${REPORT_ONLY:-}" ]]; then
    grep -q '^s3[.]' "$RESULTS" && S3_DONE=1
elif [[ -n "$S3_JOBS" && " $PROJECTS " == *" bat "* ]]; then
    # Servers someone else started are used and left running; only ours are stopped.
    # (Not `status | grep -q`: under pipefail the early exit of grep fails the pipeline.)
    servers_status=$(bash "$REPO/scripts/servers.sh" status 2>&1 || true)
    if [[ "$servers_status" != *"seaweed: running"* || ! -f "$REPO/target/servers.env" ]]; then
        log "starting the local object stores (scripts/servers.sh start)"
        bash "$REPO/scripts/servers.sh" start >&2 || die "scripts/servers.sh start failed"
        STARTED_SERVERS=1
    fi
    set -a; . "$REPO/target/servers.env"; set +a
    S3_BASE=$CARGO_STASH_TEST_S3
    S3_DONE=1
    sw=$W/s3
    rm -rf "$sw"; mkdir -p "$sw"
    rid=$(date +%s)
    for jobs in $S3_JOBS; do
        for run in warmup $(seq 1 "$RUNS"); do
            log "S3 vs local, --jobs $jobs, round $run"
            for kind in local s3; do
                case $kind in
                    local) url="file://$sw/store-$jobs-$run" ;;
                    s3) url="$S3_BASE/bench-$rid-$jobs-$run" ;;
                esac
                rm -f "${PROJ[bat]}/target/.cargo-stash/state.json"
                rm -rf "$sw/restored"; mkdir -p "$sw/restored"
                timed "s3.$kind.$jobs.save" "$run" "$sw/save.json" \
                    "$STASH" save --json --no-registry --jobs "$jobs" --store "$url" --manifest-path "${PROJ[bat]}/Cargo.toml"
                [[ $(jfield "$sw/save.json" .outcome) == saved ]] || die "S3 bench save failed: $(cat "$sw/save.json")"
                record "s3.bytes_total" "$run" "$(jfield "$sw/save.json" .bytes_total)"
                timed "s3.$kind.$jobs.restore" "$run" "$sw/restore.json" env CARGO_TARGET_DIR="$sw/restored" \
                    "$STASH" restore --json --no-registry --no-mtime --jobs "$jobs" --store "$url" --manifest-path "${PROJ[bat]}/Cargo.toml"
                [[ $(jfield "$sw/restore.json" .hit) == exact ]] || die "S3 bench restore missed: $(cat "$sw/restore.json")"
                # A skipped pack is a cargo-stash bug worth reporting, not a reason to stop.
                if [[ $(jfield "$sw/restore.json" .packs_failed) != 0 ]]; then
                    record s3.failed "$run" "$kind --jobs $jobs: $(jq -r '.warnings | join("; ")' "$sw/restore.json")"
                fi
                record "s3.bytes_written" "$run" "$(jfield "$sw/restore.json" .bytes_written)"
                rm -rf "$sw/store-$jobs-$run"
                # Leave nothing behind in the shared S3 server (no save runs on this prefix).
                if [[ $kind == s3 ]]; then "$STASH" gc --store "$url" --max-age 0s --grace 0s --no-concurrent-saves >/dev/null 2>&1 || true; fi
            done
        done
    done
    rm -rf "$sw"
fi

# --- 7. key computation ------------------------------------------------------------------
KEY_OUT=
if [[ -n "${REPORT_ONLY:-}" ]]; then
    KEY_OUT=$(cat "$W/key.txt" 2>/dev/null || true)
elif [[ -z "${SKIP_KEY:-}" ]]; then
    log "key computation, native vs wasm (scripts/bench-key.sh)"
    if [[ ! -f "$REPO/wasm/pkg/stash_wasm_bg.wasm" ]]; then
        (cd "$REPO" && bash scripts/wasm-build.sh >&2) || log "wasm build failed; key benchmark skipped"
    fi
    # Idle servers and the cold memory the steps above left (see preheat) had made both
    # sides of this run 40 % slower than on an idle machine.
    if [[ -n "$STARTED_SERVERS" ]]; then
        bash "$REPO/scripts/servers.sh" stop >&2 || true
        STARTED_SERVERS=
    fi
    preheat
    KEY_OUT=$(cd "$REPO" && STASH_NATIVE_BIN=$STASH bash scripts/bench-key.sh 2>&1) ||
        KEY_OUT="scripts/bench-key.sh failed:
$KEY_OUT"
    printf '%s\n' "$KEY_OUT" >"$W/key.txt"
fi

LOAD_END=$(loadavg)
ELAPSED=$(since "$T_START")
STASH_REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
STASH_DIRTY=$(cd "$REPO" && [[ -n $(git status --porcelain -- native core 2>/dev/null) ]] && echo " + uncommitted changes in native/ or core/" || true)
[[ -n "$STASH_BIN_GIVEN" ]] && STASH_DIRTY="$STASH_DIRTY; binary given by STASH_BIN"
RUN_DATE=$(date -u +%Y-%m-%d)
if [[ -n "${REPORT_ONLY:-}" ]]; then
    . "$W/meta.env" # what the measuring run recorded
else
    declare -p LOAD_START LOAD_END ELAPSED STASH_REV STASH_DIRTY RUN_DATE RUNS >"$W/meta.env"
fi

# --- report ------------------------------------------------------------------------------
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
FS=$(df -T "$BENCH_DIR" | awk 'NR == 2 {print $2}')
LOAD_STEPS=$(awk -F'\t' '$5 != "" && $2 != "warmup" {print $5}' "$RESULTS" | sort -g |
    awk '{v[NR] = $1} END { if (NR) printf "%.1f–%.1f (median %.1f)", v[1], v[NR], v[int((NR + 1) / 2)] }')
NOISY=
if awk -v a="$LOAD_START" -v b="$LOAD_END" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); exit !(x[1] > n || y[1] > n || x[2] > n || y[2] > n) }'; then
    NOISY="**This run shared the machine with other work: the load average was above the core count
(see Setup), so single timings are noisy; treat ratios within ±30 % of a target as unsettled
and rerun on an idle machine.**"
fi
CMD="bash bench/run.sh"
[[ "$RUNS" != 3 ]] && CMD="RUNS=$RUNS $CMD"

declare -A TGT
TARGET_ROWS=
target_row() { # label measured value op limit
    TARGET_ROWS+="| $1 | $2 | $(verdict "$3" "$4" "$5") |"$'\n'
}

SECTIONS=
ALL_RSS=()
for p in $PROJECTS; do
    proj=${PROJ[$p]}
    S_SAVE=$(median "$p.stash_save"); T_SAVE_SAN=$(median "$p.tar_save_san"); T_SAVE_FULL=$(median "$p.tar_save_full")
    S_REST=$(median "$p.stash_restore"); S_REST_FB=$(median "$p.stash_restore_fallback")
    T_REST_SAN=$(median "$p.tar_restore_san"); T_REST_FULL=$(median "$p.tar_restore_full")
    S_NC=$(median "$p.stash_save_nochange")
    S_STORE=$(median "$p.store_bytes"); S_UP=$(median "$p.save_uploaded"); S_TOTAL=$(median "$p.save_total")
    T_SAN_B=$(median "$p.tar_san_bytes"); T_FULL_B=$(median "$p.tar_full_bytes")
    NC_UP=$(maxof "$p.nc_uploaded" 3); NC_PACKS=$(maxof "$p.nc_packs_uploaded" 3)
    D_UP=$(one "$p.delta_uploaded")
    B_NOOP=$(median "$p.build_noop"); B_REST=$(median "$p.build_after_restore"); B_EXACT=$(median "$p.build_after_exact")
    COLD=$(cat "$proj.cold-build-seconds" 2>/dev/null || echo nan)
    COLD_LOAD=$(cat "$proj.cold-build-load" 2>/dev/null || echo "not recorded")
    pw=$W/$p
    read -r F_REST N_REST < <(units "$pw/build-restored-$RUNS.json") || true
    read -r F_EXACT N_EXACT < <(units "$pw/build-exact-$RUNS.json") || true
    read -r F_NOOP N_NOOP < <(units "$pw/build-noop-$RUNS.json") || true
    read -r F_DELTA N_DELTA < <(units "$pw/build-delta.json") || true
    read -r F_DREST N_DREST < <(units "$pw/build-delta2.json") || true
    REB_DREST=$(rebuilt_list "$pw/build-delta2.json")
    REB_REST=$(rebuilt_list "$pw/build-restored-$RUNS.json"); REB_EXACT=$(rebuilt_list "$pw/build-exact-$RUNS.json")
    STATS=$(jq -r '"restored \(.units.restored), fresh \(.units.fresh), rebuilt \(.units.rebuilt), new \(.units.new), unused \(.units.unused)"' "$pw/stats-$RUNS.json" 2>/dev/null || echo "n/a")
    MT=$(jq -r 'if .mtime == null then "none" elif .mtime.skipped then "skipped: \(.mtime.skipped)" else "\(.mtime.restored) unchanged entries given their saved mtime, \(.mtime.touched) stamped now" end' "$pw/restore-nc-$RUNS.json" 2>/dev/null || echo n/a)
    RSS_SAVE=$(maxof "$p.stash_save"); RSS_REST=$(maxof "$p.stash_restore"); RSS_NC=$(maxof "$p.stash_save_nochange"); RSS_FB=$(maxof "$p.stash_restore_fallback")
    RSS_TSAVE=$(maxof "$p.tar_save_san"); RSS_TREST=$(maxof "$p.tar_restore_san")
    ALL_RSS+=("$RSS_SAVE" "$RSS_REST" "$RSS_NC" "$RSS_FB" "$(maxof "$p.delta_save")" "$(maxof "$p.delta_restore")")
    R_REST=$(div "$S_REST" "$T_REST_SAN"); R_REST_FB=$(div "$S_REST_FB" "$T_REST_SAN"); R_SAVE=$(div "$S_SAVE" "$T_SAVE_SAN")
    SPEED_NC=$(div "$S_SAVE" "$S_NC"); D_FRAC=$(div "$D_UP" "$S_UP"); R_BUILD=$(div "$B_REST" "$B_NOOP")
    label=$([[ $p == bat ]] && echo "bat 0.24.0" || echo "workspace (4 members)")
    target_row "$label: restore ≤ 0.7× tar+zstd (same files; exact hit / new-suffix fallback)" "$(f2 "$R_REST")× / $(f2 "$R_REST_FB")×" "$R_REST" "<=" 0.7
    target_row "$label: first save ≤ 1.0× tar+zstd (same files)" "$(f2 "$R_SAVE")×" "$R_SAVE" "<=" 1.0
    target_row "$label: no-change save ≥ 10× faster than first save" "$(f2 "$SPEED_NC")× faster; uploaded $NC_UP B" "$SPEED_NC" ">=" 10
    target_row "$label: delta save ≤ 10 % of a full save's bytes" "$(awk -v v="$D_FRAC" 'BEGIN { printf "%.1f %%", v * 100 }') ($(mib "$D_UP") of $(mib "$S_UP"))" "$D_FRAC" "<=" 0.10
    target_row "$label: build after restore (fresh clone, same path) ≤ 1.2× no-op" "$(f2 "$R_BUILD")× ($(f2 "$B_REST") s vs $(f2 "$B_NOOP") s; fresh $F_REST/$N_REST)" "$R_BUILD" "<=" 1.2

    SECTIONS+=$(cat <<EOF

### $label

$([[ $p == bat ]] && echo "\`bat 0.24.0\` as published on crates.io (its own Cargo.lock, $(grep -c '^name' "$proj/Cargo.lock") packages), debug build, default features." || echo "tests/fixtures/workspace (members \`app\`, \`util\` with a build script writing OUT_DIR, \`derive\` proc-macro; serde, serde_json, bzip2-sys with C) plus a member \`cli\` on zstd 0.13 (zstd-sys C build), tokio, regex and anyhow; locked once with the newest versions ($(grep -c '^name' "$proj/Cargo.lock") packages), debug build.")
target/: $(mib "$(one "$p.full_bytes")") in $(one "$p.full_files") files; sanitized (what cargo-stash keeps and the "same files" tar holds): $(mib "$(one "$p.san_bytes")") in $(one "$p.san_files") files.

| measurement | cargo-stash | tar+zstd, same files | ratio | tar+zstd, whole target/ | ratio |
|---|---:|---:|---:|---:|---:|
| first save, s | $(t "$p.stash_save") | $(t "$p.tar_save_san") | $(ratio "$S_SAVE" "$T_SAVE_SAN") | $(t "$p.tar_save_full") | $(ratio "$S_SAVE" "$T_SAVE_FULL") |
| restore, fresh clone at the same path, exact hit, s | $(t "$p.stash_restore") | $(t "$p.tar_restore_san") | $(ratio "$S_REST" "$T_REST_SAN") | $(t "$p.tar_restore_full") | $(ratio "$S_REST" "$T_REST_FULL") |
| restore, same, fallback hit (new \`--suffix\`), s | $(t "$p.stash_restore_fallback") | $(t "$p.tar_restore_san") | $(ratio "$S_REST_FB" "$T_REST_SAN") | | |
| no-change save (restore, no-op build, save), s | $(t "$p.stash_save_nochange") | | | | |
| bytes stored (first save) | $(mib "$S_STORE") | $(mib "$T_SAN_B") | $(ratio "$S_STORE" "$T_SAN_B") | $(mib "$T_FULL_B") | $(ratio "$S_STORE" "$T_FULL_B") |
| uncompressed input | $(mib "$S_TOTAL") in $(median "$p.save_packs") packs | $(mib "$(one "$p.san_bytes")") | | $(mib "$(one "$p.full_bytes")") | |
| CPU (user+sys), first save, s | $(f2 "$(median "$p.stash_save" 6)") | $(f2 "$(median "$p.tar_save_san" 6)") | $(ratio "$(median "$p.stash_save" 6)" "$(median "$p.tar_save_san" 6)") | $(f2 "$(median "$p.tar_save_full" 6)") | $(ratio "$(median "$p.stash_save" 6)" "$(median "$p.tar_save_full" 6)") |
| CPU (user+sys), restore exact hit, s | $(f2 "$(median "$p.stash_restore" 6)") | $(f2 "$(median "$p.tar_restore_san" 6)") | $(ratio "$(median "$p.stash_restore" 6)" "$(median "$p.tar_restore_san" 6)") | $(f2 "$(median "$p.tar_restore_full" 6)") | $(ratio "$(median "$p.stash_restore" 6)" "$(median "$p.tar_restore_full" 6)") |
| CPU (user+sys), no-change save, s | $(f2 "$(median "$p.stash_save_nochange" 6)") | | | | |
| peak RSS, save / restore | $(mb_rss "$RSS_SAVE") / $(mb_rss "$RSS_REST") | $(mb_rss "$RSS_TSAVE") / $(mb_rss "$RSS_TREST") (largest process) | | | |

| save kind | uploaded | packs uploaded | time, s | vs first save |
|---|---:|---:|---:|---:|
| first save (empty store) | $(mib "$S_UP") | $(median "$p.save_packs") | $(f2 "$S_SAVE") | 1.00× |
| no-change save (new suffix) | $NC_UP B | $NC_PACKS | $(f2 "$S_NC") | $(f2 "$SPEED_NC")× faster |
| delta save after \`cargo update -p $(one "$p.bump")\` (once) | $(mib "$D_UP") | $(one "$p.delta_packs_uploaded") of $(one "$p.delta_packs"), $(one "$p.delta_patched") as patches | $(f2 "$(one "$p.delta_save")") | $(awk -v v="$D_FRAC" 'BEGIN { printf "%.1f %% of the bytes", v * 100 }') |
| first save with the registry layer (default; once) | target + $(mib "$(one "$p.reg_uploaded")") registry ($(one "$p.reg_packs") packs, $(mib "$(one "$p.reg_total")") raw) | | $(f2 "$(one "$p.save_with_registry")") | |

| build | time, s | units fresh / total | rebuilt |
|---|---:|---:|---|
| cold (\`cargo build\` on an empty target/, once when the suite first built it; load then: $COLD_LOAD) | $(f2 "$COLD") | | all |
| no-op (the original checkout) | $(t "$p.build_noop") | $F_NOOP/$N_NOOP | |
| after restore, fresh clone at the same path, fallback hit | $(t "$p.build_after_restore") | $F_REST/$N_REST | ${REB_REST:-none} |
| after restore, fresh clone at the same path, exact hit | $(t "$p.build_after_exact") | $F_EXACT/$N_EXACT | ${REB_EXACT:-none} |
| after the dependency bump (once) | $(f2 "$(one "$p.delta_build")") | $F_DELTA/$N_DELTA | $(one "$p.delta_rebuilt") |
| after restoring the delta snapshot into a fresh clone of the bumped commit (once) | $(f2 "$(one "$p.delta_restore_build")") | $F_DREST/$N_DREST | ${REB_DREST:-none} |

Restoring the delta snapshot (exact hit, fresh clone; its patches fetch their bases, once): $(f2 "$(one "$p.delta_restore")") s, $(mib "$(one "$p.delta_restore_down")") downloaded, vs $(f2 "$S_REST") s for the first snapshot ($(ratio "$(one "$p.delta_restore")" "$S_REST")), peak RSS $(mb_rss "$(maxof "$p.delta_restore")").

Build after restore vs cold: $(ratio "$B_REST" "$COLD"); vs no-op: $(ratio "$B_REST" "$B_NOOP").
Why Cargo rebuilt after the exact-hit restore (its fingerprint log): $(STALE=$({ grep -o 'stale: [a-z_ ]*"[^"]*"' "$pw/build-exact-$RUNS.log" 2>/dev/null || true; } | sed "s|$BENCH_DIR|\$BENCH_DIR|g; s|^|\`|; s|\$|\`|" | sort -u | paste -sd, - | sed 's/,/, /g'); echo "${STALE:-nothing stale}").
\`cargo stash stats\` after that build: $STATS. Source mtimes at restore: $MT.
Units left out of the no-change save as unused: $(maxof "$p.nc_unused" 3); of the delta save: $(one "$p.delta_unused").
EOF
)
    SECTIONS+=$'\n'
done

RSS_MAX=$(printf '%s\n' "${ALL_RSS[@]}" | grep -v '^$' | sort -g | tail -n1)
SCALE_TABLE="(not measured: needs both projects)"
if [[ -n "$SCALE" ]]; then
    B1=$(one scale.single_bytes); B2=$(one scale.double_bytes)
    SS1=$(median scale.single_save); SS2=$(median scale.double_save); SR1=$(median scale.single_restore); SR2=$(median scale.double_restore)
    RS1=$(maxof scale.single_save); RS2=$(maxof scale.double_save); RR1=$(maxof scale.single_restore); RR2=$(maxof scale.double_restore)
    GROW=$(div "$B2" "$B1")
    RSS_MAX=$(printf '%s\n' "$RSS_MAX" "$RS1" "$RS2" "$RR1" "$RR2" | grep -v '^$' | sort -g | tail -n1)
    RSS_GROWTH=$(awk -v a="$RS1" -v b="$RS2" -v c="$RR1" -v d="$RR2" 'BEGIN { x = b / a; y = d / c; print (x > y ? x : y) }')
    SCALE_TABLE=$(cat <<EOF
| cache | target/ size | save, s | restore, s | save MB/s | restore MB/s | peak RSS save | peak RSS restore |
|---|---:|---:|---:|---:|---:|---:|---:|
| bat alone | $(mib "$B1") | $(t scale.single_save) | $(t scale.single_restore) | $(awk -v b="$(median scale.single_total)" -v s="$SS1" 'BEGIN { printf "%.0f", b / 1e6 / s }') | $(awk -v b="$(median scale.single_total)" -v s="$SR1" 'BEGIN { printf "%.0f", b / 1e6 / s }') | $(mb_rss "$RS1") | $(mb_rss "$RR1") |
| bat + ws in one target dir | $(mib "$B2") ($(f2 "$GROW")×) | $(t scale.double_save) | $(t scale.double_restore) | $(awk -v b="$(median scale.double_total)" -v s="$SS2" 'BEGIN { printf "%.0f", b / 1e6 / s }') | $(awk -v b="$(median scale.double_total)" -v s="$SR2" 'BEGIN { printf "%.0f", b / 1e6 / s }') | $(mb_rss "$RS2") | $(mb_rss "$RR2") |
| growth | $(f2 "$GROW")× | $(ratio "$SS2" "$SS1") | $(ratio "$SR2" "$SR1") | | | $(ratio "$RS2" "$RS1") | $(ratio "$RR2" "$RR1") |

"bat + ws" is bat's target/ with ws's target/ copied into it (\`cp -a -n\`): the files two
projects building into one \`CARGO_TARGET_DIR\` leave, without building them again. Saves
have no restore state here, so every unit is kept; restores go into an empty target dir
(\`CARGO_TARGET_DIR\`, \`--no-mtime\`).
EOF
)
    target_row "peak RSS < 200 MB (max over every save and restore above)" "$(mb_rss "$RSS_MAX")" "$((RSS_MAX * 1024))" "<" 200000000
    target_row "peak RSS flat as the cache grows $(f2 "$GROW")× (≤ 1.2× growth)" "save $(ratio "$RS2" "$RS1"), restore $(ratio "$RR2" "$RR1")" "$RSS_GROWTH" "<=" 1.2
else
    target_row "peak RSS < 200 MB" "$(mb_rss "$RSS_MAX")" "$((RSS_MAX * 1024))" "<" 200000000
fi

S3_TABLE="(not measured: S3_JOBS empty or bat not benchmarked)"
if [[ -n "$S3_DONE" ]]; then
    S3_MB=$(median s3.bytes_total)
    S3_TABLE="| --jobs | save local, s | save S3, s | S3/local | restore local, s | restore S3, s | S3/local | S3 save MB/s | S3 restore MB/s |"$'\n'"|---:|---:|---:|---:|---:|---:|---:|---:|---:|"$'\n'
    for jobs in $S3_JOBS; do
        a=$(median "s3.local.$jobs.save"); b=$(median "s3.s3.$jobs.save"); c=$(median "s3.local.$jobs.restore"); d=$(median "s3.s3.$jobs.restore")
        S3_TABLE+="| $jobs | $(t "s3.local.$jobs.save") | $(t "s3.s3.$jobs.save") | $(ratio "$b" "$a") | $(t "s3.local.$jobs.restore") | $(t "s3.s3.$jobs.restore") | $(ratio "$d" "$c") | $(awk -v m="$S3_MB" -v s="$b" 'BEGIN { printf "%.0f", m / 1e6 / s }') | $(awk -v m="$S3_MB" -v s="$d" 'BEGIN { printf "%.0f", m / 1e6 / s }') |"$'\n'
    done
    S3_FAILED=$(awk -F'\t' '$1 == "s3.failed" {print "- round " $2 ", " $3}' "$RESULTS" | sed "s|$BENCH_DIR|\$BENCH_DIR|g")
    [[ -n "$S3_FAILED" ]] && S3_TABLE+=$'\n'"**Restores that skipped packs** (times are still in the table). \"File exists\" here is a race in cargo-stash, not in the store: two packs creating the same parent directory at once (\`ensure_real_dirs\` in native/src/pack.rs treats EEXIST from \`create_dir\` as an error), so a whole unit is left out and rebuilds:"$'\n\n'"$S3_FAILED"$'\n'
    S3_TABLE+=$'\n'"bat's target/ ($(mib "$S3_MB") uncompressed per save); MB/s are uncompressed bytes. SeaweedFS ($(cd "$REPO" && "$HOME/.cache/cargo-stash-servers/venv/bin/weed" version 2>/dev/null | head -n1 || echo "version unknown")) on 127.0.0.1 through the S3 API, started by \`scripts/servers.sh\`; every save goes to a new prefix (a first save), every restore into an empty target dir."
fi

DOC=$(cat <<EOF
# Benchmarks

Produced by \`$CMD\` (from the repo root) on $RUN_DATE, in $(awk -v s="$ELAPSED" 'BEGIN { printf "%.0f", s / 60 }') minutes.
Times are wall-clock "median (min)" of $RUNS runs after one warm-up round; ratios are of
medians; peak RSS is the maximum over the runs; steps marked "once" ran once. CPU seconds
(user+sys) are shown beside the wall times of save and restore: on a shared machine they
are the steadier measure of how much work each side does.

$NOISY

## Against the targets

| target (issue 7) | measured | verdict |
|---|---|---|
$TARGET_ROWS
## Setup

- Machine: $(nproc) cores ($CPU), $MEM RAM, $FS; $(uname -sr).
  Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END; 1-min load
  during the timed steps: $LOAD_STEPS.
- Toolchain: $(rustc -V); $(cargo -V).
- Tools: $(tar --version | head -n1); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1);
  cargo-stash $STASH_REV$STASH_DIRTY (release build).
- cargo-stash saves with \`--no-registry\` into a fresh \`file://\` store per round, so
  both sides hold the same files (the registry layer is measured once on its own row).
  "Same files" is \`tar --posix -I 'zstd -T0 -3' -cf\` of a copy of target/ sanitized by
  \`cargo-stash clean\` (no incremental/, no \`*.d\`); "whole target/" is the same command on
  the unsanitized target/. tar restores are \`zstd -d -T0 | tar -x\` into an empty dir;
  cargo-stash restores go into the empty target/ of a fresh \`git clone\` at the path the
  save was made from (the checkout is moved aside meanwhile), so they include the
  content-gated source mtime restore.
- Page cache warm (cannot be dropped here): each save's and restore's inputs are read
  right before it, since this VM pages out page cache it sees as cold (DAMON);
  \`sync\` before each timed step; no step
  fsyncs its output. Trees are deleted between rounds, never between timed steps, and
  each round starts ${SETTLE} s after the deletes: on this ext4 the inode allocator slows
  down for seconds after a mass delete, and a page cache full of dead trees slowed both
  sides' writes in later rounds.
- $(if ((PREHEAT > 0)); then echo "${PREHEAT} MiB of memory touched and freed right before each timed step: this VM hands
  freed memory back to its host, and without this each step wrote into colder memory
  than the one before it (page-cache copies went from 15 % to 45-50 % of a restore's CPU
  by the last step of a round), which favoured whichever side ran first."; else echo "No memory preheat (PREHEAT=0): later steps of a round may write into colder memory."; fi)

## Results per project
$SECTIONS
## Peak RSS as the cache doubles

$SCALE_TABLE

## Save and restore through S3 (SeaweedFS) vs a local store

$S3_TABLE

## Key computation: native vs wasm, 5,000-package lockfile

Output of \`scripts/bench-key.sh\` (same inputs on both sides) in this run:

\`\`\`
${KEY_OUT:-(skipped: SKIP_KEY set)}
\`\`\`

## Raw data

\`$RESULTS\`: name, run, wall seconds (or value), peak RSS kB, 1-min load average at the
end of the step, CPU seconds (user+sys, children included). \`bench/save_restore.sh\` (bat only) and \`bench/stores.sh\` are the older,
narrower scripts this one supersedes.
EOF
)

echo "$DOC"
if [[ "$DOC_OUT" != - ]]; then
    mkdir -p "$(dirname "$DOC_OUT")"
    # The network sections come from bench/net/run.sh: keep them as they are.
    NET_BLOCK=$([[ -f "$DOC_OUT" ]] && sed -n '/^<!-- network:begin -->$/,/^<!-- network:end -->$/p' "$DOC_OUT" || true)
    printf '%s\n' "$DOC" >"$DOC_OUT"
    if [[ -n "$NET_BLOCK" ]]; then printf '\n%s\n' "$NET_BLOCK" >>"$DOC_OUT"; fi
    log "wrote $DOC_OUT"
fi
exit 0
}
