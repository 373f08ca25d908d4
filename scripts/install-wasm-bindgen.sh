#!/usr/bin/env bash
# Installs wasm-bindgen-cli VERSION (the wasm-bindgen of Cargo.lock) with locked
# dependencies, never an unlocked resolution that could differ from machine to machine:
# upstream's own Cargo.lock when the registry has everything it names, else ours,
# scripts/wasm-bindgen-cli-VERSION.lock (upstream's with webpki-roots 1.0.11 -> 1.0.10,
# the only version a registry mirror here lacked), applied to the crate cargo downloaded
# and checked for the first attempt.
# usage: scripts/install-wasm-bindgen.sh VERSION
set -euo pipefail
version="${1:?usage: $0 VERSION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if cargo install wasm-bindgen-cli --version "=$version" --locked; then
  exit 0
fi
lock="$root/scripts/wasm-bindgen-cli-$version.lock"
if [[ ! -f "$lock" ]]; then
  echo "error: cargo install wasm-bindgen-cli --version =$version --locked failed and there is no" >&2
  echo "       $lock to pin its dependencies with; add one (cargo update --precise on upstream's)." >&2
  exit 1
fi
crate=""
for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"wasm-bindgen-cli-$version.crate"; do
  [[ -f "$f" ]] && crate="$f" && break
done
if [[ -z "$crate" ]]; then
  echo "error: cargo did not download wasm-bindgen-cli $version; see its error above" >&2
  exit 1
fi
echo "==> wasm-bindgen-cli $version with $lock" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$crate" -C "$tmp"
cp "$lock" "$tmp/wasm-bindgen-cli-$version/Cargo.lock"
cargo install --path "$tmp/wasm-bindgen-cli-$version" --locked
