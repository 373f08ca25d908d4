#!/usr/bin/env bash
# Everything of the wasm package and the GitHub Action, on a fresh machine or a warm one:
#   setup (skipped when done): wasm32 target, wasm-bindgen-cli 0.2.130, npm ci
#   build: wasm package (scripts/wasm-build.sh), action bundle, native binary
#   tests: wasm-bindgen-test under Node, node --test on the golden vectors and the
#          cross-check with the native binary, the action's main/post steps against a
#          file:// store and against a stand-in of GitHub's cache on a local Azurite.
# Works with CI=true and no stdin. Azurite is started on 127.0.0.1 and stopped by PID.
set -euo pipefail
exec </dev/null

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
action="$root/ci-templates/github"
bindgen_version="0.2.130"
log() { printf '\n==> %s\n' "$*" >&2; }

# --- setup ---------------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if [[ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]] ||
   ! command -v wasm-bindgen-test-runner >/dev/null; then
  log "cargo install wasm-bindgen-cli $bindgen_version"
  bash "$root/scripts/install-wasm-bindgen.sh" "$bindgen_version"
fi
npm_ci() { # npm ci unless node_modules matches package-lock.json already
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" ||
        "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    log "npm ci in ${dir#"$root"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci "$root/wasm/npm"
npm_ci "$action"

# dist/ is committed (the action runs without npm install), so it must be what these
# sources bundle to: any difference fails. The .wasm is only reproduced by the tools
# that made it (dist/wasm-toolchain.txt); built here with others, it is put back as
# committed with a warning, and everything else must still match.
check_dist() {
  local dist=ci-templates/github/dist changed committed_tools
  git -C "$root" ls-files --error-unmatch "$dist/restore.mjs" >/dev/null 2>&1 || return 0
  changed="$(git -C "$root" status --porcelain --untracked-files=all -- "$dist")"
  [[ -n "$changed" ]] || return 0
  committed_tools="$(git -C "$root" show "HEAD:$dist/wasm-toolchain.txt" 2>/dev/null || true)"
  if [[ -n "$committed_tools" && "$committed_tools" != "$(cat "$root/$dist/wasm-toolchain.txt")" ]] &&
    ! grep -qv -e " $dist/stash_wasm_bg.wasm\$" -e " $dist/wasm-toolchain.txt\$" <<<"$changed"; then
    echo "warning: the committed $dist/stash_wasm_bg.wasm was built with other tools" \
      "($(head -n 1 <<<"$committed_tools")); here: $(head -n 1 "$root/$dist/wasm-toolchain.txt")." \
      "Keeping the committed one; the JavaScript bundle matches." >&2
    git -C "$root" checkout -- "$dist/stash_wasm_bg.wasm" "$dist/wasm-toolchain.txt"
    return 0
  fi
  echo "error: $dist/ differs from a fresh bundle of these sources:" >&2
  echo "$changed" >&2
  echo "       commit the rebuilt one: scripts/wasm-build.sh && (cd ci-templates/github && node build.mjs)" >&2
  exit 1
}

# --- build ---------------------------------------------------------------------------
log "build the wasm package"
bash "$root/scripts/wasm-build.sh"
log "bundle the GitHub Action (dist/)"
(cd "$action" && node build.mjs)
check_dist

log "cargo build -p cargo-stash (native side of the cross-checks)"
cargo build -p cargo-stash
export STASH_NATIVE_BIN="${STASH_NATIVE_BIN:-${CARGO_STASH_BIN:-$root/target/debug/cargo-stash}}"

# --- tests ---------------------------------------------------------------------------
log "wasm-bindgen-test under Node"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p stash-wasm --target wasm32-unknown-unknown --tests

log "node --test: golden vectors, API, cross-check with the native binary"
(cd "$root/wasm/npm" && node --test test/*.test.js)

azurite_dir="$(mktemp -d)"
azurite_pid=""
stop_azurite() {
  if [[ -n "$azurite_pid" ]] && kill -0 "$azurite_pid" 2>/dev/null; then
    kill -TERM "$azurite_pid" 2>/dev/null || true
    # Azurite can ignore SIGTERM for a few seconds.
    for _ in $(seq 50); do kill -0 "$azurite_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$azurite_pid" 2>/dev/null || true
    wait "$azurite_pid" 2>/dev/null || true
  fi
  rm -rf "$azurite_dir"
}
trap stop_azurite EXIT
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
log "start Azurite (blob) on 127.0.0.1:$port"
(cd "$azurite_dir" && exec "$action/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
  --inMemoryPersistence --skipApiVersionCheck --disableTelemetry >"$azurite_dir/log" 2>&1) &
azurite_pid=$!
for i in $(seq 100); do
  if node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$port"; then break; fi
  if ! kill -0 "$azurite_pid" 2>/dev/null || (( i == 100 )); then
    echo "error: Azurite did not start:" >&2; cat "$azurite_dir/log" >&2; exit 1
  fi
  sleep 0.1
done
export STASH_AZURITE_BLOB_URL="http://127.0.0.1:$port/devstoreaccount1"

log "node --test: the GitHub Action's main and post steps"
(cd "$action" && node --test test/*.test.mjs)

log "all wasm and GitHub Action tests passed"
