#!/usr/bin/env bash
# Builds the npm package of stash-core's WebAssembly bindings into wasm/pkg/:
#   cargo (wasm32, size-tuned release) -> wasm-bindgen --target nodejs -> wasm-opt -Oz
# plus the committed JS sources of wasm/npm/. Prints the size of the final .wasm.
#
# Env: STASH_WASM_MAX_BYTES  size budget of the optimised wasm, in bytes (default 400000);
#                           the build fails above it. Raise it only with a reason. It is
#                           400000 since the JSON boundary went to serde_json (issue 15:
#                           kept crates over hand-written size savings); the GitHub
#                           Action's unit-usage rule and mtime plan from core added 24 KB.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
npm_dir="$root/wasm/npm"
pkg="$root/wasm/pkg"
budget="${STASH_WASM_MAX_BYTES:-400000}"
if [[ ! "$budget" =~ ^[0-9]+$ ]]; then
  echo "error: STASH_WASM_MAX_BYTES must be a number of bytes (got '$budget')" >&2
  exit 1
fi

log() { printf '==> %s\n' "$*" >&2; }

# wasm-opt comes from npm `binaryen`, installed in wasm/npm/node_modules, never globally.
if [[ ! -x "$npm_dir/node_modules/.bin/wasm-opt" ]]; then
  log "npm ci in wasm/npm (binaryen for wasm-opt)"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Size over speed for the wasm only: the workspace's release profile is tuned for the
# native binary, so override it here rather than in Cargo.toml.
log "cargo build --release --target wasm32-unknown-unknown -p stash-wasm"
CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
CARGO_PROFILE_RELEASE_LTO=fat \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_PANIC=abort \
CARGO_PROFILE_RELEASE_DEBUG=false \
  cargo build --release --target wasm32-unknown-unknown -p stash-wasm

want="0.2.130"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
if [[ "$have" != "$want" ]]; then
  echo "error: wasm-bindgen CLI $want is required (found '${have:-none}'); run scripts/wasm-test.sh or" >&2
  echo "       scripts/install-wasm-bindgen.sh $want" >&2
  exit 1
fi

log "wasm-bindgen --target nodejs"
rm -rf "$pkg"
mkdir -p "$pkg"
wasm-bindgen --target nodejs --out-dir "$pkg" --out-name stash_wasm \
  "$root/target/wasm32-unknown-unknown/release/stash_wasm.wasm"
# The raw module's own .d.ts is replaced by the hand-written one of the wrapper.
rm -f "$pkg/stash_wasm.d.ts" "$pkg/stash_wasm_bg.wasm.d.ts"

log "wasm-opt -Oz"
"$npm_dir/node_modules/.bin/wasm-opt" -Oz --converge \
  --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers \
  -o "$pkg/stash_wasm_bg.wasm.opt" "$pkg/stash_wasm_bg.wasm"
mv "$pkg/stash_wasm_bg.wasm.opt" "$pkg/stash_wasm_bg.wasm"

for f in package.json README.md index.js index.mjs index.d.ts gather.js; do
  cp "$npm_dir/$f" "$pkg/$f"
done
# What made the .wasm: the same sources give the same bytes only with the same tools
# (scripts/wasm-test.sh compares the committed bundle of the GitHub Action with a fresh one).
rustc_vv="$(rustc -vV)"
{
  echo "rustc $(sed -n 's/^release: //p' <<<"$rustc_vv") $(sed -n 's/^commit-hash: //p' <<<"$rustc_vv")"
  echo "wasm-bindgen $have"
  echo "wasm-opt $("$npm_dir/node_modules/.bin/wasm-opt" --version | awk '{print $3}')"
} >"$pkg/BUILD"

size=$(wc -c <"$pkg/stash_wasm_bg.wasm")
gz=$(gzip -9 -c "$pkg/stash_wasm_bg.wasm" | wc -c)
echo "wasm size after wasm-opt: $size bytes ($((size / 1024)) KiB; gzip -9: $((gz / 1024)) KiB; budget $budget bytes)"
if (( size > budget )); then
  echo "error: $pkg/stash_wasm_bg.wasm is $size bytes, over the budget of $budget by $((size - budget))." >&2
  echo "       Find what grew with twiggy (cargo install twiggy; twiggy top on a build kept with" >&2
  echo "       names), or raise the budget deliberately: STASH_WASM_MAX_BYTES=<bytes> $0" >&2
  exit 1
fi
echo "npm package: $pkg"
