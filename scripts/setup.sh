#!/usr/bin/env bash
# Installs what cargo-stash's build and tests need. Idempotent: every step checks first,
# so a rerun on a set-up machine takes seconds. Works unattended (CI=true, no stdin).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '==> setup: %s\n' "$*" >&2; }

export DEBIAN_FRONTEND=noninteractive
apt_missing=()
for pkg in git zstd rsync bats bats-assert bats-support shellcheck; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_missing+=("$pkg")
done
if ((${#apt_missing[@]})); then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    log "apt-get install ${apt_missing[*]}"
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${apt_missing[@]}" >/dev/null
  else
    log "missing Debian packages (install them): ${apt_missing[*]}"
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for comp in rustfmt clippy; do
  rustup component list --installed | grep -q "^$comp" || rustup component add "$comp"
done

wbg_version=$(grep -A2 'name = "wasm-bindgen"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
if [[ -n "$wbg_version" ]] && ! wasm-bindgen --version 2>/dev/null | grep -q "$wbg_version"; then
  log "cargo install wasm-bindgen-cli $wbg_version (several minutes, once)"
  bash "$root/scripts/install-wasm-bindgen.sh" "$wbg_version"
fi
log "done"
