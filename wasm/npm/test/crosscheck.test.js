'use strict';
// Cross-check on generated inputs: for each generated workspace (members, lockfile,
// config files, toolchain file, CARGO_HOME, environment, flags) the native
// `cargo-stash key --json --explain` and this package's gatherKeyInputs + computeKey must
// print the same keys, ladders and explanation.
//
// Native binary: $STASH_NATIVE_BIN, else target/debug/cargo-stash (cargo build -p cargo-stash).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { stash, repo } = require('./pkg.js');

const bin = process.env.STASH_NATIVE_BIN || process.env.CARGO_STASH_BIN || path.join(repo, 'target', 'debug', 'cargo-stash');
const skip = fs.existsSync(bin) ? false : `native binary ${bin} is missing: run \`cargo build -p cargo-stash\` or set STASH_NATIVE_BIN`;

// Deterministic generator, so a failure names a case that can be rerun.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function lockfile(r, members) {
  let text = 'version = 4\n';
  for (const m of members) text += `\n[[package]]\nname = "${m}"\nversion = "0.${Math.floor(r() * 9)}.0"\n`;
  const n = Math.floor(r() * 40);
  for (let i = 0; i < n; i++) {
    const sum = Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(r() * 16)]).join('');
    const source = r() < 0.9
      ? 'registry+https://github.com/rust-lang/crates.io-index'
      : `git+https://example.invalid/dep${i}?rev=abc#${sum.slice(0, 40)}`;
    text += `\n[[package]]\nname = "dep${i}"\nversion = "1.${i}.${Math.floor(r() * 20)}"\nsource = "${source}"\n`;
    if (source.startsWith('registry')) text += `checksum = "${sum}"\n`;
  }
  return text;
}

function generate(base, seed) {
  const r = rng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const dir = path.join(base, `case-${seed}`);
  const root = path.join(dir, 'ws');
  const home = path.join(dir, 'cargo-home');
  fs.mkdirSync(home, { recursive: true });
  const members = [];
  const virtual = r() < 0.5;
  const count = virtual ? 1 + Math.floor(r() * 3) : 0;
  for (let i = 0; i < count; i++) {
    const name = `m${i}`;
    const rel = r() < 0.5 ? `crates/${name}` : name;
    members.push([name, rel]);
  }
  const write = (file, text) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  if (virtual) {
    write(path.join(root, 'Cargo.toml'), `[workspace]\nresolver = "2"\nmembers = [${members.map(([, rel]) => `"${rel}"`).join(', ')}]\n\n[workspace.dependencies]\nserde = "1"\n`);
    for (const [name, rel] of members) {
      write(path.join(root, rel, 'Cargo.toml'), `[package]\nname = "${name}"\nversion = "0.${seed % 7}.0"\nedition = "2021"\n\n[dependencies]\nitoa = "1"\n`);
      write(path.join(root, rel, 'src', 'lib.rs'), '');
    }
  } else {
    write(path.join(root, 'Cargo.toml'), `[package]\nname = "app${seed}"\nversion = "1.0.${seed}"\nedition = "2021"\n\n[dependencies]\nitoa = "1"\n`);
    write(path.join(root, 'src', 'main.rs'), 'fn main() {}\n');
  }
  if (r() < 0.8) write(path.join(root, 'Cargo.lock'), lockfile(r, members.map(([n]) => n)));
  if (r() < 0.5) write(path.join(root, '.cargo', pick(['config.toml', 'config'])), `[build]\nrustflags = ["-Cdebuginfo=${seed % 3}"]\n`);
  if (r() < 0.4) write(path.join(dir, '.cargo', 'config.toml'), `[net]\nretry = ${seed}\n`);
  if (r() < 0.4) write(path.join(home, pick(['config.toml', 'config'])), `[term]\nverbose = ${r() < 0.5}\n`);
  if (r() < 0.4) write(path.join(pick([root, dir]), pick(['rust-toolchain.toml', 'rust-toolchain'])), `[toolchain]\nchannel = "stable-${seed}"\n`);

  const env = {};
  if (r() < 0.5) env.RUSTFLAGS = pick(['-Dwarnings', '-Ctarget-cpu=native', '--cfg tokio_unstable']);
  if (r() < 0.3) env.CARGO_PROFILE_RELEASE_LTO = 'thin';
  if (r() < 0.3) env.CC = 'clang';
  if (r() < 0.5) env.RUST_LOG = 'debug'; // noise: must not matter
  if (r() < 0.3) env.CARGO_BUILD_TARGET = 'x86_64-unknown-linux-musl';
  const extraEnv = r() < 0.4 ? ['MY_FLAVOUR'] : [];
  if (r() < 0.6) env.MY_FLAVOUR = pick(['a', 'b']);
  const flags = {
    prefix: r() < 0.4 ? pick(['ci', 'job_1', 'lint.x']) : '',
    suffix: r() < 0.3 ? `sha${seed}` : '',
    targets: r() < 0.3 ? pick([['wasm32-unknown-unknown'], ['aarch64-unknown-linux-gnu', 'x86_64-unknown-linux-gnu']]) : [],
    profile: pick(['dev', 'dev', 'release', 'bench']),
    extraEnv,
  };
  return { root, home, env, flags };
}

// The environment both sides see: this process's, minus cargo-stash's own settings and
// anything a generated case sets, plus the case's variables.
function caseEnv(c) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CARGO_STASH_') || k.startsWith('CARGO_PROFILE_') || k.startsWith('CARGO_BUILD_') || k === 'RUSTFLAGS' || k === 'CC' || k === 'MY_FLAVOUR') continue;
    env[k] = v;
  }
  // A generated rust-toolchain file names a toolchain that does not exist: pin the one
  // in use, as a CI job that installed its toolchain would.
  env.RUSTUP_TOOLCHAIN = process.env.RUSTUP_TOOLCHAIN || execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^release: (.*)$/m)[1];
  env.CARGO_HOME = c.home;
  return { ...env, ...c.env };
}

test('native `cargo-stash key --json` and the wasm package agree on generated inputs', { skip }, async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'stash-xcheck-'));
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  const seeds = Array.from({ length: Number(process.env.STASH_XCHECK_CASES || 16) }, (_, i) => i + 1);
  for (const seed of seeds) {
    await t.test(`case ${seed}`, () => {
      const c = generate(base, seed);
      const env = caseEnv(c);
      const manifestPath = path.join(c.root, 'Cargo.toml');
      const args = ['key', '--json', '--explain', '--manifest-path', manifestPath, '--profile', c.flags.profile];
      if (c.flags.prefix) args.push('--prefix', c.flags.prefix);
      if (c.flags.suffix) args.push('--suffix', c.flags.suffix);
      for (const t2 of c.flags.targets) args.push('--target', t2);
      for (const v of c.flags.extraEnv) args.push('--env-var', v);
      const native = JSON.parse(execFileSync(bin, args, { env, cwd: c.root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));

      const rustcVersion = execFileSync(env.RUSTC || 'rustc', ['-vV'], { env, cwd: c.root, encoding: 'utf8' });
      const inputs = stash.gatherKeyInputs({ rustcVersion, manifestPath, env, cwd: c.root, ...c.flags });
      const wasm = stash.computeKey(inputs);
      assert.equal(native.version, 1);
      assert.deepEqual(wasm.explain, native.explain, 'same inputs, same digests');
      assert.deepEqual(wasm.target, native.target);
      assert.deepEqual(wasm.registry, native.registry);
    });
  }
});
