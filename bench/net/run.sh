#!/usr/bin/env bash
# cargo-stash over a realistic link (issue 17): SeaweedFS (and Azurite for one row) in a
# network namespace this script creates, reached through a veth pair rate-limited with
# `tc tbf` and the delaying relay `stash-net-relay` (tests/harness/relay.rs: this kernel
# has no netem). cargo-stash beside the single-object anchors on the same link, in the
# same run, with S3 request counts per operation (counted by the relay from the HTTP
# request lines, so every client is counted the same way).
#
#   sudo bash bench/net/run.sh                       # both profiles, ws and bat
#   PROFILES=cross PROJECTS=ws bash bench/net/run.sh  # a quick look
#
# Profiles: same  = "same region":  2 ms RTT (1 ms per direction), 2 Gbit/s
#           cross = "cross region": 40 ms RTT (20 ms per direction), 400 Mbit/s
# Per profile and project: cargo-stash first save, restore (fresh clone at the same
# path), no-change save, delta save (after `cargo update -p DEP --precise OLDER`), and
# the anchors: (a) tar+zstd as one object with the AWS CLI (`aws s3 cp`, streamed),
# (b) the GitLab runner's S3 cache (one zip, deflate at its default level, one presigned
# PUT / GET), (c) the Buildkite cache plugin's s3 backend at its defaults (compression
# none: `aws s3api list-objects-v2 --max-items 1`, then `aws s3 sync` of the folder).
# Then --jobs sweeps, one Azurite row, and (SCALE=1) restore/save at 1x, 2x, 4x of
# bat's target on the same-region link.
#
# Environment (all optional):
#   BENCH_DIR   scratch dir (default /tmp/stash-netbench)
#   PROFILES    "same cross"      PROJECTS "ws bat"      JOBS_SWEEP "8 32 64"
#   SWEEP_PROJECT  project of the --jobs sweep (default: the first of PROJECTS)
#   ALL_ANCHORS projects that also get the GitLab and Buildkite anchors (default: all of
#               PROJECTS; the tar+zstd anchor always runs)
#   SCALE       1 = run the scaling rows (default 1)     AZURE 1 = the Azurite row (default 1)
#   LOCAL       1 = local-disk rows for the "what to expect" table (default 1)
#   BAT_SRC     a built bat 0.24.0 git checkout (default /work/deltabench/bat-0.24.0)
#   STASH_BIN   cargo-stash (default target/release/cargo-stash)
#   RELAY_BIN   stash-net-relay (default target/release/stash-net-relay)
#   NET_ID      number naming the namespace, veth and weed ports (default: this PID)
#   OUT         results markdown (default $BENCH_DIR/report.md)
#   DOC_OUT     also put it into this file between the network markers
#               (default docs/benchmarks.md; "-" = no)
# Needs root for the namespace (else: loopback + relay, no rate limit, said in the
# report), the AWS CLI, zip/unzip, curl, zstd, jq, /usr/bin/time, and the servers'
# installs from scripts/servers.sh (weed, azurite) under ~/.cache/cargo-stash-servers.
set -euo pipefail
{
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$REPO/bench/net/lib.sh"
BENCH_DIR=${BENCH_DIR:-/tmp/stash-netbench}
PROFILES=${PROFILES:-same cross}
PROJECTS=${PROJECTS:-ws bat}
JOBS_SWEEP=${JOBS_SWEEP-8 32 64}
SCALE=${SCALE:-1}
ALL_ANCHORS=${ALL_ANCHORS-$PROJECTS}
AZURE=${AZURE:-1}
BAT_SRC=${BAT_SRC:-/work/deltabench/bat-0.24.0}
STASH_BIN=${STASH_BIN:-$REPO/target/release/cargo-stash}
RELAY_BIN=${RELAY_BIN:-$REPO/target/release/stash-net-relay}
SERVERS_HOME=${CARGO_STASH_SERVERS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/cargo-stash-servers}
WEED=$SERVERS_HOME/venv/bin/weed
AZURITE=$SERVERS_HOME/npm/node_modules/.bin/azurite-blob
OUT=${OUT:-$BENCH_DIR/report.md}
DOC_OUT=${DOC_OUT:-$REPO/docs/benchmarks.md}
export CI=true CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never AWS_DEFAULT_REGION=us-east-1
unset CARGO_TARGET_DIR CARGO_STASH_STORE CARGO_STASH_JOBS CARGO_STASH_SUFFIX || true
exec </dev/null

log() { printf '[netbench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
for t in aws zip unzip curl zstd jq git; do command -v "$t" >/dev/null || die "$t is required"; done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required"
[[ -x "$STASH_BIN" ]] || die "no $STASH_BIN: cargo build --release -p cargo-stash (or set STASH_BIN)"
[[ -x "$RELAY_BIN" ]] || die "no $RELAY_BIN: cargo build --release -p stash-tests --bin stash-net-relay"
[[ -x "$WEED" ]] || die "no $WEED: scripts/servers.sh installs it"

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
W=$BENCH_DIR/work
rm -rf "$W"; mkdir -p "$W"
mkdir -p "$BENCH_DIR/bin"
cp -f "$STASH_BIN" "$BENCH_DIR/bin/cargo-stash"; STASH=$BENCH_DIR/bin/cargo-stash
cp -f "$RELAY_BIN" "$BENCH_DIR/bin/stash-net-relay"; RELAY=$BENCH_DIR/bin/stash-net-relay
export W STASH
RESULTS=$BENCH_DIR/results.tsv
: >"$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
RUN=run$(date +%s)

SWAPPED=()
cleanup() {
    local p
    for p in "${SWAPPED[@]}"; do
        if [[ -d "$p.orig" ]]; then rm -rf "$p"; mv "$p.orig" "$p"; fi
    done
    net_down
    # weed leaves its unix sockets behind; only ours (our ports) are removed.
    for p in $(seq "$PORT_BASE" $((PORT_BASE + 5))) $(seq $((PORT_BASE + 10000)) $((PORT_BASE + 10005))); do
        rm -f "/tmp/seaweedfs-"*"-$p.sock"
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- projects ---------------------------------------------------------------------------
declare -A PROJ BUMP
PROJ[bat]=$BENCH_DIR/project/bat-0.24.0
PROJ[ws]=$BENCH_DIR/project/ws
BUMP[bat]=${BUMP_BAT:-}
BUMP[ws]=${BUMP_WS:-memchr@2.8.0}
commit_all() { git init -q && git add -A && git -c user.name=b -c user.email=b@invalid commit -qm "$1"; }
setup_bat() {
    [[ -d "${PROJ[bat]}/.git" ]] && return 0
    [[ -d "$BAT_SRC/target/debug" ]] || die "no built bat at $BAT_SRC (bench/run.sh builds one under its BENCH_DIR)"
    mkdir -p "$(dirname "${PROJ[bat]}")"
    cp -a "$BAT_SRC" "${PROJ[bat]}"
}
setup_ws() {
    [[ -d "${PROJ[ws]}/.git" ]] && return 0
    mkdir -p "${PROJ[ws]}"
    cp -r "$REPO/tests/fixtures/workspace/." "${PROJ[ws]}/"
    rm -rf "${PROJ[ws]}/target"
    (cd "${PROJ[ws]}" && commit_all "workspace fixture")
}
for p in $PROJECTS; do
    "setup_$p"
    # bat's own lock has semver 1.0.17 (a build script): move it back; a checkout already
    # moved (bench/run.sh's delta step, other benchmarks) goes forward instead.
    if [[ $p == bat && -z "${BUMP[bat]}" ]]; then
        if grep -A1 '^name = "semver"$' "${PROJ[bat]}/Cargo.lock" | grep -q '"1.0.16"'; then BUMP[bat]=semver@1.0.17; else BUMP[bat]=semver@1.0.16; fi
    fi
    log "$p: build (no-op if already built)"
    (cd "${PROJ[$p]}" && cargo build -q 2>"$W/build-$p.log") || { tail "$W/build-$p.log" >&2; die "build of $p failed"; }
done

# --- the link ------------------------------------------------------------------------------
net_up
start_weed "$WEED" "$W/weed" || die "SeaweedFS did not start in the namespace"
export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET
if ((AZURE)) && [[ -x "$AZURITE" ]]; then
    start_azurite "$AZURITE" "$W/azurite" || { log "Azurite did not start: no Azure row"; AZURE=0; }
else
    AZURE=0
fi

STATS=$W/relay.stats
counts() { sleep 0.3; cat "$STATS" 2>/dev/null || echo "0 0 0 0 0 0 0"; }
# timed PROFILE PROJECT OP TOOL cmd...: wall time, peak RSS, requests and bytes on the link.
timed() {
    local profile=$1 project=$2 op=$3 tool=$4; shift 4
    # This VM pages out page cache it sees as cold (docs/benchmarks.md, Setup): read the
    # inputs first so that every side starts warm, not just whichever ran second.
    if [[ -n "${WARM:-}" && -d "$WARM" ]]; then find "$WARM" -type f -print0 | xargs -0r cat >/dev/null; fi
    sync
    local before after t0 secs rc=0 rss
    before=$(counts)
    t0=$(date +%s.%N)
    # Through bash -c: the anchors are shell functions (exported below).
    /usr/bin/time -v -o "$W/time.txt" bash -c '"$@"' _ "$@" >"$W/out.txt" 2>"$W/err.txt" || rc=$?
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    after=$(counts)
    ((rc == 0)) || { tail -n 20 "$W/err.txt" >&2; die "$profile $project $op $tool failed ($rc): $*"; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/time.txt")
    # GET PUT LIST HEAD OTHER BYTES_UP BYTES_DOWN as differences.
    local diff
    diff=$(paste -d' ' <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") | awk '{ printf "%s%d", (NR > 1 ? "\t" : ""), $2 - $1 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$profile" "$project" "$op" "$tool" "$secs" "$diff" "$rss" \
        "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
    log "$profile $project $op $tool: $secs s, requests/bytes $diff"
}
record() { (IFS=$'\t'; echo "$*") >>"$W/facts.tsv"; }

# The files a save keeps (and the anchors archive): target/ without incremental/ and *.d.
anchor_tar_save() { # dir key
    tar --posix --exclude=./debug/incremental --exclude='*.d' --exclude=./.cargo-stash -C "$1" -cf - . | zstd -T0 -3 -q | aws --endpoint-url "$S3_URL" s3 cp --only-show-errors - "s3://stash/$2"
}
anchor_tar_restore() { # key dir
    mkdir -p "$2"
    aws --endpoint-url "$S3_URL" s3 cp --only-show-errors "s3://stash/$1" - | zstd -d -T0 -q | tar -x -C "$2"
}
presign() { # METHOD key
    python3 - "$1" "$2" "$S3_URL" <<'EOF'
import sys, botocore.session
from botocore.config import Config
s = botocore.session.get_session().create_client("s3", endpoint_url=sys.argv[3], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
op = {"PUT": "put_object", "GET": "get_object"}[sys.argv[1]]
print(s.generate_presigned_url(op, Params={"Bucket": "stash", "Key": sys.argv[2]}, ExpiresIn=3600))
EOF
}
gitlab_save() { # dir key zipfile
    rm -f "$3"
    (cd "$1" && zip -q -r -6 "$3" . -x 'debug/incremental/*' '*.d' '.cargo-stash/*')
    curl -sf -T "$3" "$(presign PUT "$2")" -o /dev/null
}
gitlab_restore() { # key dir zipfile
    rm -f "$3"; mkdir -p "$2"
    curl -sf -o "$3" "$(presign GET "$1")"
    unzip -q -o "$3" -d "$2"
}
buildkite_save() { # dir key
    aws --endpoint-url "$S3_URL" s3api list-objects-v2 --bucket stash --prefix "$2" --max-items 1 >/dev/null
    aws --endpoint-url "$S3_URL" s3 sync --only-show-errors "$1" "s3://stash/$2" \
        --exclude 'debug/incremental/*' --exclude '*.d' --exclude '.cargo-stash/*'
}
buildkite_restore() { # key dir
    aws --endpoint-url "$S3_URL" s3api list-objects-v2 --bucket stash --prefix "$1" --max-items 1 >/dev/null
    aws --endpoint-url "$S3_URL" s3 sync --only-show-errors "s3://stash/$1" "$2"
}

export -f anchor_tar_save anchor_tar_restore presign gitlab_save gitlab_restore buildkite_save buildkite_restore

fresh_clone_at() { # checkout: moved aside, a fresh clone takes its path
    local proj=$1
    mv "$proj" "$proj.orig"; SWAPPED+=("$proj")
    git clone -q "$proj.orig" "$proj"
}
swap_back() { rm -rf "$1"; mv "$1.orig" "$1"; }

stash_env() { # store url -> runs cargo-stash with the S3 env through the relay
    env AWS_ENDPOINT="$S3_URL" AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true "$STASH" "$@"
}

# --- measure the link ----------------------------------------------------------------------
measure_link() { # profile
    local profile=$1 small big i
    head -c 1024 /dev/urandom >"$W/small.bin"
    head -c $((64 << 20)) /dev/urandom >"$W/big.bin"
    aws --endpoint-url "$S3_URL" s3 cp --only-show-errors "$W/small.bin" "s3://stash/$RUN/link/small"
    aws --endpoint-url "$S3_URL" s3 cp --only-show-errors "$W/big.bin" "s3://stash/$RUN/link/big"
    small=$(presign GET "$RUN/link/small"); big=$(presign GET "$RUN/link/big")
    for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$small"; done | sort -g | sed -n 3p >"$W/rtt"
    for i in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\n' "$big"; done | sort -g | sed -n 2p >"$W/bigt"
    record "$profile" link small_get_s "$(cat "$W/rtt")"
    record "$profile" link big_get_s "$(cat "$W/bigt")"
    log "$profile: small GET $(cat "$W/rtt") s (a round trip), 64 MiB GET $(cat "$W/bigt") s"
}

# --- one project on one profile -------------------------------------------------------------
bench_project() { # profile project
    local profile=$1 p=$2 proj=${PROJ[$2]} url key WARM=${PROJ[$2]}/target
    url="s3://stash/$RUN/$profile/$p"
    key="$RUN/$profile/anchor-$p"
    rm -rf "$proj/target/.cargo-stash" # a first save in a fresh CI job: no restore, no memo
    timed "$profile" "$p" first_save cargo-stash stash_env save --json --no-registry --suffix first --store "$url" --manifest-path "$proj/Cargo.toml"
    cp "$W/out.txt" "$W/$profile-$p-first.json"
    timed "$profile" "$p" first_save tar-zstd-awscli anchor_tar_save "$proj/target" "$key.tar.zst"
    local all_anchors=0
    [[ " $ALL_ANCHORS " == *" $p "* ]] && all_anchors=1
    if ((all_anchors)); then
        timed "$profile" "$p" first_save gitlab-zip anchor_gitlab_save_wrap "$proj/target" "$key.zip"
        timed "$profile" "$p" first_save buildkite-sync buildkite_save "$proj/target" "$key-bk"
        record "$profile" "$p" gitlab_bytes "$(stat -c %s "$W/gl.zip")"
    fi
    record "$profile" "$p" anchor_bytes "$(aws --endpoint-url "$S3_URL" s3api head-object --bucket stash --key "$key.tar.zst" --query ContentLength --output text)"

    # Restores: anchors into empty dirs, cargo-stash into a fresh clone at the same path.
    timed "$profile" "$p" restore tar-zstd-awscli anchor_tar_restore "$key.tar.zst" "$W/r-tar"
    if ((all_anchors)); then
        timed "$profile" "$p" restore gitlab-zip gitlab_restore "$key.zip" "$W/r-gl" "$W/gl-r.zip"
        timed "$profile" "$p" restore buildkite-sync buildkite_restore "$key-bk" "$W/r-bk"
    fi
    rm -rf "$W/r-tar" "$W/r-gl" "$W/r-bk" "$W/gl-r.zip"
    fresh_clone_at "$proj"
    timed "$profile" "$p" restore cargo-stash stash_env restore --json --suffix first --store "$url" --manifest-path "$proj/Cargo.toml"
    cp "$W/out.txt" "$W/$profile-$p-restore.json"
    (cd "$proj" && cargo build -q --message-format=json >"$W/$profile-$p-build.json" 2>/dev/null) || die "build after restore failed"
    record "$profile" "$p" fresh_after_restore "$(awk '/"reason":"compiler-artifact"/ { n++; if (/"fresh":true/) f++ } END { printf "%d/%d", f, n }' "$W/$profile-$p-build.json")"
    timed "$profile" "$p" nochange_save cargo-stash stash_env save --json --no-registry --suffix nc --store "$url" --manifest-path "$proj/Cargo.toml"
    cp "$W/out.txt" "$W/$profile-$p-nc.json"
    # Delta, as CI meets it: a new job restores, one dependency moves, the build and the
    # save follow. (A save consumes the restore state, so this needs a restore of its own.)
    swap_back "$proj"
    fresh_clone_at "$proj"
    stash_env restore --json --suffix first --store "$url" --manifest-path "$proj/Cargo.toml" >/dev/null
    (cd "$proj" && cargo update -q -p "${BUMP[$p]%@*}" --precise "${BUMP[$p]#*@}" && cargo build -q) >"$W/bump.log" 2>&1 ||
        { tail "$W/bump.log" >&2; die "bump of $p failed"; }
    (cd "$proj" && git -c user.name=b -c user.email=b@invalid commit -qam bump)
    timed "$profile" "$p" delta_save cargo-stash stash_env save --json --no-registry --suffix delta --store "$url" --manifest-path "$proj/Cargo.toml"
    cp "$W/out.txt" "$W/$profile-$p-delta.json"
    swap_back "$proj"
}
anchor_gitlab_save_wrap() { gitlab_save "$1" "$2" "$W/gl.zip"; }
export -f stash_env anchor_gitlab_save_wrap

jobs_sweep() { # profile project
    local profile=$1 p=$2 proj=${PROJ[$2]} j url WARM=${PROJ[$2]}/target
    for j in $JOBS_SWEEP; do
        url="s3://stash/$RUN/$profile/jobs$j-$p"
        rm -rf "$proj/target/.cargo-stash" # a first save in a fresh CI job: no restore, no memo
        timed "$profile" "$p" "first_save_jobs$j" cargo-stash stash_env save --json --no-registry --jobs "$j" --suffix j --store "$url" --manifest-path "$proj/Cargo.toml"
        rm -rf "$W/jt"
        timed "$profile" "$p" "restore_jobs$j" cargo-stash env CARGO_TARGET_DIR="$W/jt" AWS_ENDPOINT="$S3_URL" AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true \
            "$STASH" restore --json --no-mtime --jobs "$j" --suffix j --store "$url" --manifest-path "$proj/Cargo.toml"
        rm -rf "$W/jt"
    done
}

azure_row() { # profile project
    local profile=$1 p=$2 proj=${PROJ[$2]} STATS=$W/relay-az.stats WARM=${PROJ[$2]}/target
    node "$REPO/scripts/azurite-container.mjs" "http://$AZ_RELAY" stash >/dev/null 2>&1 || true
    local url="az://stash/$RUN/$profile/$p"
    rm -rf "$proj/target/.cargo-stash" # a first save in a fresh CI job: no restore, no memo
    rm -rf "$W/jt"
    timed "$profile" "$p" first_save cargo-stash-azurite env AZURE_STORAGE_USE_EMULATOR=true AZURE_STORAGE_ACCOUNT_NAME=devstoreaccount1 \
        AZURITE_BLOB_STORAGE_URL="http://$AZ_RELAY" "$STASH" save --json --no-registry --suffix az --store "$url" --manifest-path "$proj/Cargo.toml"
    timed "$profile" "$p" restore cargo-stash-azurite env CARGO_TARGET_DIR="$W/jt" AZURE_STORAGE_USE_EMULATOR=true AZURE_STORAGE_ACCOUNT_NAME=devstoreaccount1 \
        AZURITE_BLOB_STORAGE_URL="http://$AZ_RELAY" "$STASH" restore --json --no-mtime --suffix az --store "$url" --manifest-path "$proj/Cargo.toml"
    rm -rf "$W/jt"
}

# Whole units (fingerprint dir, deps files, build dir) of a profile dir, up to MiB of
# deps bytes, copied into a dir of their own: real units to grow a cache by a set amount.
units_part() { # src-profile-dir dest mib
    python3 - "$@" <<'EOF'
import os, shutil, sys
src, dst, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]) << 20
shutil.rmtree(dst, ignore_errors=True)
for d in ("deps", "build", ".fingerprint"):
    os.makedirs(f"{dst}/{d}")
deps, builds, total = os.listdir(f"{src}/deps"), set(os.listdir(f"{src}/build")), 0
for unit in sorted(os.listdir(f"{src}/.fingerprint")):
    if total > cap:
        break
    h = unit.rsplit("-", 1)[-1]
    files = [f for f in deps if h in f and not f.endswith(".d")]
    shutil.copytree(f"{src}/.fingerprint/{unit}", f"{dst}/.fingerprint/{unit}", symlinks=True)
    for f in files:
        shutil.copy2(f"{src}/deps/{f}", f"{dst}/deps/{f}")
        total += os.path.getsize(f"{src}/deps/{f}")
    if unit in builds:
        shutil.copytree(f"{src}/build/{unit}", f"{dst}/build/{unit}", symlinks=True)
EOF
}

# Scaling: bat's target alone, then with other real targets copied in (cp -a -n), as
# bench/run.sh does for bat + ws: sizes near 2x and 4x of bat's kept bytes. By default
# 2x adds this repo's target/release (cargo-stash's own release build, ~540 MiB) and 4x
# adds that plus 1060 MiB of whole units from target/debug.
scale_rows() { # profile
    local profile=$1 proj=${PROJ[bat]} n src dir url
    local -a extra
    for n in 1 2 4; do
        dir=$W/scale-$n
        rm -rf "$dir"; cp -a "$proj/target" "$dir"
        case $n in
            2) extra=(${SCALE_2X:-$REPO/target/release}) ;;
            4) if [[ -n "${SCALE_4X:-}" ]]; then extra=($SCALE_4X); else
                   units_part "$REPO/target/debug" "$W/debug-part" 1060
                   extra=("$REPO/target/release" "$W/debug-part"); fi ;;
            *) extra=() ;;
        esac
        for src in "${extra[@]}"; do
            [[ -d "$src" ]] || continue
            mkdir -p "$dir/debug"
            # A profile dir of another workspace merged into bat's debug/: real units.
            cp -a -n "$src/deps" "$src/build" "$src/.fingerprint" "$dir/debug/" 2>/dev/null || true
        done
        rm -rf "$dir/debug/incremental" "$dir/.cargo-stash"
        record "$profile" scale "bytes_$n" "$(du -sb --exclude='*.d' "$dir" | cut -f1)"
        url="s3://stash/$RUN/$profile/scale$n"
        local WARM=$dir
        timed "$profile" "scale$n" first_save cargo-stash env CARGO_TARGET_DIR="$dir" AWS_ENDPOINT="$S3_URL" AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true \
            "$STASH" save --json --no-registry --suffix s --store "$url" --manifest-path "$proj/Cargo.toml"
        cp "$W/out.txt" "$W/scale-$n-save.json"
        rm -rf "$W/jt"
        timed "$profile" "scale$n" restore cargo-stash env CARGO_TARGET_DIR="$W/jt" AWS_ENDPOINT="$S3_URL" AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true \
            "$STASH" restore --json --no-mtime --suffix s --store "$url" --manifest-path "$proj/Cargo.toml"
        cp "$W/out.txt" "$W/scale-$n-restore.json"
        rm -rf "$W/jt" "$dir" "$W/debug-part"
    done
}

# Local disk, for the "what to expect" table: cargo-stash with a file:// store and tar+zstd
# to a file, restores into an empty target dir.
local_rows() { # project
    local p=$1 proj=${PROJ[$1]} WARM=${PROJ[$1]}/target
    rm -rf "$proj/target/.cargo-stash" # a first save in a fresh CI job: no restore, no memo
    timed local "$p" first_save cargo-stash "$STASH" save --json --no-registry --suffix l --store "file://$W/local-$p" --manifest-path "$proj/Cargo.toml"
    rm -rf "$W/jt"
    timed local "$p" restore cargo-stash env CARGO_TARGET_DIR="$W/jt" "$STASH" restore --json --no-mtime --suffix l --store "file://$W/local-$p" --manifest-path "$proj/Cargo.toml"
    rm -rf "$W/jt"
    timed local "$p" first_save tar-zstd-local bash -c 'tar --posix --exclude=./debug/incremental --exclude="*.d" --exclude=./.cargo-stash -C "$1" -cf - . | zstd -T0 -3 -q -o "$2"' _ "$proj/target" "$W/local-$p.tar.zst"
    mkdir -p "$W/jt"
    timed local "$p" restore tar-zstd-local bash -c 'zstd -d -T0 -q -c "$1" | tar -x -C "$2"' _ "$W/local-$p.tar.zst" "$W/jt"
    rm -rf "$W/jt" "$W/local-$p" "$W/local-$p.tar.zst"
}
if ((${LOCAL:-1})); then for p in $PROJECTS; do local_rows "$p"; done; fi

declare -A RATE=([same]=2000 [cross]=400) DELAY=([same]=1 [cross]=20)
for profile in $PROFILES; do
    net_rate "${RATE[$profile]}"
    [[ -n "${RELAY_PID:-}" ]] && stop_pid "$RELAY_PID"
    rm -f "$STATS"
    start_relay "$RELAY" "$NS_IP:$S3_PORT" "${DELAY[$profile]}" "$W/relay.log" "$STATS" || die "relay did not start"
    export S3_URL=http://$RELAY_ADDR
    log "profile $profile: ${RATE[$profile]} Mbit/s, ${DELAY[$profile]} ms per direction, S3 via $S3_URL"
    measure_link "$profile"
    for p in $PROJECTS; do bench_project "$profile" "$p"; done
    first=${PROJECTS%% *}
    [[ -n "$JOBS_SWEEP" ]] && jobs_sweep "$profile" "${SWEEP_PROJECT:-$first}"
    if ((AZURE)); then
        S3_RELAY_PID=$RELAY_PID
        start_relay "$RELAY" "$NS_IP:$AZ_PORT" "${DELAY[$profile]}" "$W/relay-az.log" "$W/relay-az.stats" || die "relay did not start"
        AZ_RELAY=$RELAY_ADDR AZ_PID=$RELAY_PID RELAY_PID=$S3_RELAY_PID
        azure_row "$profile" "$first" || log "Azurite row failed"
        stop_pid "$AZ_PID"
    fi
    if ((SCALE)) && [[ $profile == same ]] && [[ " $PROJECTS " == *" bat "* ]]; then scale_rows "$profile"; fi
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "load_start	$LOAD_START"; echo "load_end	$LOAD_END"
    echo "minutes	$((($(date +%s) - T0) / 60))"; echo "netns	$USE_NETNS"
    echo "stash	$(git -C "$REPO" rev-parse --short HEAD)"
} >>"$W/facts.tsv"
cp "$W/facts.tsv" "$BENCH_DIR/facts.tsv"
cp "$W"/*.json "$BENCH_DIR/" 2>/dev/null || true
python3 "$REPO/bench/net/report.py" "$BENCH_DIR" >"$OUT"
log "wrote $OUT"
if [[ "$DOC_OUT" != - ]]; then
    python3 "$REPO/bench/net/report.py" --splice "$DOC_OUT" "$OUT"
    log "updated the network sections of $DOC_OUT"
fi
}
