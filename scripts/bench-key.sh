#!/usr/bin/env bash
# Benchmark: key computation for a generated workspace whose Cargo.lock has 5,000
# registry packages, in the wasm package under Node vs the native binary, same inputs,
# same run: computeKey alone (wasm) vs stash_core::key::compute on the same inputs JSON
# (native, examples/bench_key.rs), and both end to end. Target: < 25 ms in wasm (issue 15;
# the lockfile is read by the full TOML reader). The native reader alone on the same
# shape of lockfile: cargo run --release -p stash-core --example bench_lockfile.
#
# Env: STASH_NATIVE_BIN (default target/debug/cargo-stash; target/release is used if
#      present), BENCH_PACKAGES (default 5000), BENCH_RUNS (default 20).
# Needs scripts/wasm-build.sh to have run (wasm/pkg/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -f "$root/wasm/pkg/stash_wasm_bg.wasm" ]]; then
  echo "error: wasm/pkg is missing: run scripts/wasm-build.sh first" >&2
  exit 1
fi
bin="${STASH_NATIVE_BIN:-}"
if [[ -z "$bin" ]]; then
  bin="$root/target/debug/cargo-stash"
  [[ -x "$root/target/release/cargo-stash" ]] && bin="$root/target/release/cargo-stash"
fi
[[ -x "$bin" ]] || { echo "error: native binary $bin is missing: cargo build -p cargo-stash" >&2; exit 1; }

# The native compute alone, on the same inputs as the wasm side (built once, release).
cargo build -q --release -p stash-wasm --example bench_key
example="$root/target/release/examples/bench_key"

STASH_ROOT="$root" STASH_NATIVE_BIN="$bin" STASH_BENCH_EXAMPLE="$example" exec node - <<'JS'
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const t0 = performance.now();
const stash = require(path.join(process.env.STASH_ROOT, 'wasm/pkg'));
const loadMs = performance.now() - t0;
const bin = process.env.STASH_NATIVE_BIN;
const N = Number(process.env.BENCH_PACKAGES || 5000);
const RUNS = Number(process.env.BENCH_RUNS || 20);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stash-bench-'));
try {
  fs.writeFileSync(path.join(dir, 'Cargo.toml'), '[package]\nname = "bench"\nversion = "0.1.0"\nedition = "2021"\n');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src/main.rs'), 'fn main() {}\n');
  let lock = 'version = 4\n\n[[package]]\nname = "bench"\nversion = "0.1.0"\n';
  for (let i = 0; i < N; i++) {
    const sum = require('node:crypto').createHash('sha256').update(String(i)).digest('hex');
    lock += `\n[[package]]\nname = "crate-${i}"\nversion = "1.${i % 50}.${i % 7}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "${sum}"\ndependencies = [\n "crate-${(i + 1) % N}",\n "crate-${(i + 7) % N}",\n]\n`;
  }
  fs.writeFileSync(path.join(dir, 'Cargo.lock'), lock);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = (f) => {
    const s = performance.now();
    const r = f();
    return [performance.now() - s, r];
  };

  // Native: the whole command (cargo metadata, rustc -vV, reading files, the key).
  const manifestPath = path.join(dir, 'Cargo.toml');
  const nativeRuns = [];
  let nativeOut;
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const [ms, out] = time(() => execFileSync(bin, ['key', '--json', '--manifest-path', manifestPath], { cwd: dir, encoding: 'utf8' }));
    nativeRuns.push(ms);
    nativeOut = JSON.parse(out);
  }

  // Wasm: the same steps in JS, then computeKey alone on the gathered inputs.
  const e2e = [];
  let inputs;
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    e2e.push(time(() => {
      const rustcVersion = execFileSync('rustc', ['-vV'], { cwd: dir, encoding: 'utf8' });
      inputs = stash.gatherKeyInputs({ rustcVersion, manifestPath, cwd: dir });
      return stash.computeKey(inputs);
    })[0]);
  }
  const [firstMs, first] = time(() => stash.computeKey(inputs));
  const keyRuns = [];
  for (let i = 0; i < RUNS; i++) keyRuns.push(time(() => stash.computeKey(inputs))[0]);
  if (first.target.key !== nativeOut.target.key) {
    console.error(`MISMATCH: wasm ${first.target.key} native ${nativeOut.target.key}`);
    process.exitCode = 1;
  }
  const inputsFile = path.join(dir, 'inputs.json');
  fs.writeFileSync(inputsFile, JSON.stringify(inputs));
  const nativeCompute = JSON.parse(execFileSync(process.env.STASH_BENCH_EXAMPLE, [inputsFile, String(RUNS)], { encoding: 'utf8' }));
  if (nativeCompute.key !== first.target.key) {
    console.error(`MISMATCH: wasm ${first.target.key} native compute ${nativeCompute.key}`);
    process.exitCode = 1;
  }
  const k = median(keyRuns);
  const n = median(nativeRuns);
  const w = median(e2e);
  console.log(`lockfile: ${N} registry packages, ${(lock.length / 1024).toFixed(0)} KiB; key ${first.target.key}`);
  console.log(`wasm   module load                          ${loadMs.toFixed(1)} ms`);
  console.log(`wasm   computeKey, median of ${RUNS}            ${k.toFixed(2)} ms   (one earlier call: ${firstMs.toFixed(2)} ms)   target < 25 ms: ${k < 25 ? 'met' : 'NOT met'}`);
  console.log(`native key::compute, same inputs JSON     ${nativeCompute.median_ms.toFixed(2)} ms`);
  console.log(`ratio  wasm computeKey / native compute    ${(k / nativeCompute.median_ms).toFixed(2)}x`);
  console.log(`wasm   gather + computeKey, end to end      ${w.toFixed(1)} ms   (includes cargo metadata and rustc -vV)`);
  console.log(`native cargo-stash key --json, end to end    ${n.toFixed(1)} ms   (${path.relative(process.env.STASH_ROOT, bin)})`);
  console.log(`ratio  wasm / native, end to end            ${(w / n).toFixed(2)}x`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
JS
