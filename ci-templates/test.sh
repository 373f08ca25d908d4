#!/usr/bin/env bash
# Tests the CI templates under their real runners, against the real cargo-stash binary and
# a real S3 store (SeaweedFS):
#   - GitLab: gitlab-ci-local (npm, pinned in gitlab/test/package-lock.json) runs the
#     example pipeline that includes the component gitlab/templates/cargo-stash.yml
#     (gitlab/test/run.sh);
#   - Buildkite: bats runs the plugin's hooks (buildkite/tests/hooks.bats), shellcheck
#     checks them, plugin.yml and README.md pass buildkite-plugin-linter's rules.
# Installs what is missing (Debian rsync, bats, bats-assert, bats-support, shellcheck, jq,
# dash; PyYAML and jsonschema; gitlab-ci-local), builds target/debug/cargo-stash if it is
# not there (CARGO_STASH_BIN overrides), and starts the servers if target/servers.env is
# missing (stopping them again at exit). Ends with `ci-templates: N passed, M failed`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec </dev/null
log() { printf '==> ci-templates: %s\n' "$*" >&2; }
t_start=$SECONDS

# --- installs (each skipped when already there) ---------------------------------------
apt_install() {
  log "apt-get install $*"
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo -n)
  if [[ -z "${stash_apt_updated:-}" ]]; then
    "${sudo[@]}" apt-get update -qq
    stash_apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing=()
for tool in rsync bats shellcheck dash git jq; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for lib in bats-assert bats-support; do
  [[ -f "/usr/lib/bats/$lib/load.bash" ]] || missing+=("$lib")
done
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

STASH_PYTHON=""
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import yaml, jsonschema' 2>/dev/null; then
    STASH_PYTHON="$(command -v "$py")"
    break
  fi
done
if [[ -z "$STASH_PYTHON" ]]; then
  apt_install python3 python3-yaml python3-jsonschema
  STASH_PYTHON=/usr/bin/python3
fi

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if ((node_major < 20)); then
  log "gitlab-ci-local needs Node 20 or newer; found ${node_major}"
  exit 1
fi
gcl_dir="$root/ci-templates/gitlab/test"
want="$(node -p 'require(process.argv[1]).dependencies["gitlab-ci-local"]' "$gcl_dir/package.json")"
have="$(node -p 'try { require(process.argv[1]).version } catch { "" }' \
  "$gcl_dir/node_modules/gitlab-ci-local/package.json")"
if [[ "$have" != "$want" || ! -x "$gcl_dir/node_modules/.bin/gitlab-ci-local" ]]; then
  log "npm ci gitlab-ci-local@$want in $gcl_dir"
  (cd "$gcl_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# --- the binary and the store ---------------------------------------------------------
STASH_BIN="${CARGO_STASH_BIN:-$root/target/debug/cargo-stash}"
if [[ ! -x "$STASH_BIN" ]]; then
  log "cargo build -p cargo-stash"
  cargo build -q -p cargo-stash
fi
env_file="${CARGO_STASH_SERVERS_ENV:-$root/target/servers.env}"
started_servers=""
work=""
cleanup() {
  local rc=$?
  if [[ -n "$work" && -z "${CARGO_STASH_KEEP_WORK:-}" ]]; then rm -rf "$work"; fi
  if [[ -n "$started_servers" ]]; then bash "$root/scripts/servers.sh" stop || true; fi
  exit "$rc"
}
trap cleanup EXIT
if [[ ! -f "$env_file" ]]; then
  log "no $env_file: starting the servers (stopped again at exit)"
  started_servers=1
  bash "$root/scripts/servers.sh" start
fi
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
: "${CARGO_STASH_TEST_S3:?$env_file has no CARGO_STASH_TEST_S3}"

# Clones and logs go to a scratch dir; CARGO_HOME persists under target/ so registry
# downloads are reused between runs (its path is stable, as on a real runner).
work="$(mktemp -d "${TMPDIR:-/tmp}/cargo-stash-ci-templates.XXXXXX")"
# A private copy of the binary: a rebuild of target/ during the run cannot pull it away.
mkdir -p "$work/bin"
cp "$STASH_BIN" "$work/bin/cargo-stash"
STASH_BIN="$work/bin/cargo-stash"
export STASH_BIN STASH_PYTHON STASH_WORK="$work" STASH_CARGO_HOME="$root/target/ci-templates/cargo-home"
mkdir -p "$STASH_CARGO_HOME"
log "installs ready in $((SECONDS - t_start)) s; store $CARGO_STASH_TEST_S3, scratch $work"

# --- the tests --------------------------------------------------------------------------
passed=0
failed=0
count() { # TAP file
  local p f
  p="$(grep -c '^ok ' "$1" || true)"
  f="$(grep -c '^not ok ' "$1" || true)"
  passed=$((passed + p))
  failed=$((failed + f))
}

t0=$SECONDS
log "GitLab template under gitlab-ci-local"
rc=0
bash "$root/ci-templates/gitlab/test/run.sh" 2>&1 | tee "$work/gitlab.tap" || rc=$?
count "$work/gitlab.tap"
if [[ $rc != 0 ]] && ! grep -q '^not ok ' "$work/gitlab.tap"; then failed=$((failed + 1)); fi
log "GitLab: $((SECONDS - t0)) s"

t0=$SECONDS
log "Buildkite plugin under bats"
rc=0
bats --tap "$root/ci-templates/buildkite/tests" 2>&1 | tee "$work/buildkite.tap" || rc=$?
count "$work/buildkite.tap"
if [[ $rc != 0 ]] && ! grep -q '^not ok ' "$work/buildkite.tap"; then failed=$((failed + 1)); fi
log "Buildkite: $((SECONDS - t0)) s"

log "total $((SECONDS - t_start)) s"
echo "ci-templates: $passed passed, $failed failed"
[[ $failed == 0 && $passed -gt 0 ]]
