'use strict';
// The package's JS surface: CommonJS and ESM entry points, errors that name the field,
// the helpers, and gatherKeyInputs on a real workspace on disk.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { stash, dir } = require('./pkg.js');

const RUSTC_VV = `rustc 1.95.0 (59807616e 2026-04-14)
binary: rustc
commit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860
commit-date: 2026-04-14
host: x86_64-unknown-linux-gnu
release: 1.95.0
LLVM version: 22.1.2
`;

function baseInputs() {
  return {
    schema: 1,
    os: 'linux',
    arch: 'x64',
    rustc: stash.parseRustcVersion(RUSTC_VV),
    cargo_home: '/home/ci/.cargo',
  };
}

test('ESM and CommonJS expose the same module', async () => {
  const esm = await import(path.join(dir, 'index.mjs'));
  assert.equal(esm.computeKey, stash.computeKey);
  assert.equal(esm.default, stash);
  assert.equal(stash.KEY_SCHEMA, 1);
  assert.match(stash.VERSION, /^\d+\.\d+\.\d+/);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const f of pkg.files) assert.ok(fs.existsSync(path.join(dir, f)), `${f} is in the package`);
});

test('parseRustcVersion reads rustc -vV', () => {
  assert.deepEqual(stash.parseRustcVersion(RUSTC_VV), {
    release: '1.95.0',
    commit_hash: '59807616e1fa2540724bfbac14d7976d7e4a3860',
    host: 'x86_64-unknown-linux-gnu',
  });
  assert.throws(() => stash.parseRustcVersion('rustc 1.0\n'), /rustc\.release/);
});

test('bad input throws an Error naming the field', () => {
  const cases = [
    [{ ...baseInputs(), rustc: { release: 1, host: 'x', commit_hash: 'y' } }, /`rustc\.release`/],
    [{ ...baseInputs(), os: undefined }, /missing field `os`/],
    [{ ...baseInputs(), cargo_home: '' }, /`cargo_home`/],
    [{ ...baseInputs(), manifests: { 'a/Cargo.toml': 5 } }, /`manifests\.a\/Cargo\.toml`/],
    [{ ...baseInputs(), targets: 'x86_64' }, /`targets`/],
    [{ ...baseInputs(), prefix: 'a/b' }, /`prefix`/],
    [{ ...baseInputs(), lockfile: '[[package' }, /Cargo\.lock/],
    [{ ...baseInputs(), manifests: { 'a/Cargo.toml': '[package' } }, /a\/Cargo\.toml/],
    [null, /inputs: expected an object/],
  ];
  for (const [inputs, re] of cases) {
    assert.throws(() => stash.computeKey(inputs), (e) => e instanceof Error && re.test(e.message), String(re));
  }
  assert.throws(() => stash.plan([{ path: 'a', kind: 'pipe' }]), /`\[0\]\.kind`/);
  assert.throws(() => stash.plan([], { batch_bytes: -1 }), /`batch_bytes`/);
  assert.throws(() => stash.classify('debug'), /entries: expected an array/);
  assert.throws(() => stash.reduceLockfile(undefined), /lockfile: expected a string/);
});

test('lockfile and manifest normalisation', () => {
  const lock = `version = 4
[[package]]
name = "app"
version = "0.2.0"
[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"
`;
  assert.equal(stash.reduceLockfile(lock), 'itoa 1.0.15 registry+https://github.com/rust-lang/crates.io-index abc');
  const a = stash.normalizeManifest('app/Cargo.toml', '[package]\nname = "app"\nversion = "0.1.0"\n[dependencies]\nh = { path = "../h", version = "0.1" }\n');
  const b = stash.normalizeManifest('app/Cargo.toml', '[package]\nversion = "0.2.0"\nname = "app"\n\n[dependencies]\nh = { version = "0.2", path = "../h" }\n');
  assert.equal(a, b);
  assert.doesNotMatch(a, /version/);
});

test('artifactEnv keeps only what changes artifacts', () => {
  const env = { RUSTFLAGS: '-Dwarnings', AWS_SECRET_ACCESS_KEY: 'x', RUST_LOG: 'debug', MY_VAR: '1', CARGO_TARGET_DIR: '/t', UNSET: undefined };
  assert.deepEqual(stash.artifactEnv(env), { RUSTFLAGS: '-Dwarnings' });
  assert.deepEqual(stash.artifactEnv(env, ['MY_VAR']), { MY_VAR: '1', RUSTFLAGS: '-Dwarnings' });
  assert.equal(stash.archLabel('x86_64'), 'x64');
  assert.equal(stash.osLabel('macos'), 'macos');
});

test('classify names units, uplifted files, dep files and incremental', () => {
  const h = '0123456789abcdef';
  const entries = [
    { path: 'debug', kind: 'dir' },
    { path: 'debug/deps', kind: 'dir' },
    { path: `debug/deps/libserde-${h}.rlib`, kind: 'file', size: 10 },
    { path: `debug/deps/app-${h}.d`, kind: 'file', size: 1 },
    { path: 'debug/app', kind: 'file', size: 5 },
    { path: 'debug/incremental/app-1/x', kind: 'file', size: 5 },
  ];
  assert.deepEqual(stash.classify(entries).map((c) => [c.class, c.unit, c.name]), [
    ['other', undefined, undefined],
    ['uplifted', undefined, undefined], // a dir: the plan never packs dirs on their own
    ['unit', `debug/${h}`, 'serde'],
    ['dep-file', undefined, undefined],
    ['uplifted', undefined, undefined],
    ['incremental', undefined, undefined],
  ]);
  const p = stash.plan(entries);
  assert.deepEqual(p.dropped, [`debug/deps/app-${h}.d`, 'debug/incremental/app-1/x']);
  assert.equal(p.categories.unit.kept_files, 1);
});

test('gatherKeyInputs reads a workspace like cargo stash key', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'stash-gather-'));
  try {
    const root = path.join(base, 'ws');
    const home = path.join(base, 'cargo-home');
    for (const d of ['ws/app/src', 'ws/.cargo', '.cargo', 'cargo-home']) fs.mkdirSync(path.join(base, d), { recursive: true });
    fs.writeFileSync(path.join(root, 'Cargo.toml'), '[workspace]\nmembers = ["app"]\nresolver = "2"\n');
    fs.writeFileSync(path.join(root, 'app/Cargo.toml'), '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n');
    fs.writeFileSync(path.join(root, 'app/src/main.rs'), 'fn main() {}\n');
    fs.writeFileSync(path.join(root, 'Cargo.lock'), 'version = 4\n\n[[package]]\nname = "app"\nversion = "0.1.0"\n');
    fs.writeFileSync(path.join(root, '.cargo/config.toml'), '[build]\nrustflags = ["-Cdebuginfo=1"]\n');
    fs.writeFileSync(path.join(base, '.cargo/config'), '[net]\nretry = 3\n');
    fs.writeFileSync(path.join(base, 'rust-toolchain'), 'stable\n');
    fs.writeFileSync(path.join(home, 'config.toml'), '[net]\ngit-fetch-with-cli = true\n');
    const metadata = {
      workspace_root: root,
      packages: [{ name: 'app', manifest_path: path.join(root, 'app/Cargo.toml') }],
    };
    const env = { CARGO_HOME: home, RUSTFLAGS: '-Copt-level=1', GITHUB_TOKEN: 'secret', MY_VAR: 'x' };
    const inputs = stash.gatherKeyInputs({ rustcVersion: RUSTC_VV, metadata, env, extraEnv: ['MY_VAR'], platform: 'darwin', arch: 'arm64' });
    assert.deepEqual(Object.keys(inputs.manifests).sort(), ['Cargo.toml', 'app/Cargo.toml']);
    assert.deepEqual(Object.keys(inputs.config_files).sort(), ['$CARGO_HOME/config.toml', '../.cargo/config', '.cargo/config.toml']);
    assert.equal(inputs.toolchain_file, 'stable\n');
    assert.equal(inputs.cargo_home, home);
    assert.deepEqual(inputs.env, { MY_VAR: 'x', RUSTFLAGS: '-Copt-level=1' });
    assert.ok(!JSON.stringify(inputs).includes('secret'), 'no unfiltered environment in the inputs');
    assert.equal(inputs.os, 'macos');
    assert.equal(inputs.arch, 'arm64');
    assert.match(inputs.lockfile, /name = "app"/);
    assert.match(stash.computeKey(inputs).target.key, /^stash1-macos-arm64-1\.95\.0_59807616-/);

    // Without `metadata` it asks cargo, like the native binary.
    const viaCargo = stash.gatherKeyInputs({ rustcVersion: RUSTC_VV, cwd: path.join(root, 'app'), env: { ...process.env, ...env } });
    assert.deepEqual(viaCargo.manifests, inputs.manifests);
    assert.throws(() => stash.gatherKeyInputs({ metadata }), /rustcVersion/);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('usedUnits: the units whose fingerprints moved; null when none did', () => {
  const entries = [
    { path: 'debug', kind: 'dir' },
    { path: 'debug/.fingerprint', kind: 'dir' },
    { path: 'debug/.fingerprint/a-0123456789abcdef', kind: 'dir' },
    { path: 'debug/.fingerprint/a-0123456789abcdef/lib-a', kind: 'file', size: 16 },
    { path: 'debug/.fingerprint/b-fedcba9876543210', kind: 'dir' },
    { path: 'debug/.fingerprint/b-fedcba9876543210/lib-b', kind: 'file', size: 16 },
    { path: 'debug/deps', kind: 'dir' },
    { path: 'debug/deps/liba-0123456789abcdef.rlib', kind: 'file', size: 100 },
    { path: 'debug/deps/libb-fedcba9876543210.rlib', kind: 'file', size: 100 },
  ];
  const fingerprints = entries.filter((e) => e.kind === 'file' && stash.isFingerprint(e.path)).map((e) => e.path);
  assert.deepEqual(fingerprints, ['debug/.fingerprint/a-0123456789abcdef/lib-a', 'debug/.fingerprint/b-fedcba9876543210/lib-b']);
  const used = stash.usedUnits(entries, [fingerprints[0]]);
  assert.equal(used.length, 1);
  assert.match(used[0], /0123456789abcdef/);
  // Nothing read since the restore (a save right after it): keep every unit.
  assert.equal(stash.usedUnits(entries, []), null);
  // The sentinel is the native binary's: 1970-01-01T00:00:01Z.
  assert.equal(stash.SENTINEL_ATIME, 1);
  const plan = stash.plan(entries, { used_units: used });
  assert.equal(plan.unused_units.length, 1);
  assert.match(plan.unused_units[0], /fedcba9876543210/);
});

test('mtimePlan: only unchanged content gets its saved mtime back', () => {
  const e = (path, hash, mtime_s, size = 3) => ({ path, kind: 'file', size, hash, mtime_s, mtime_ns: 5 });
  const saved = [e('src/lib.rs', 'aa', 100), e('src/main.rs', 'bb', 200), e('gone.rs', 'cc', 300)];
  const current = [e('src/lib.rs', 'aa', 999), e('src/main.rs', 'b2', 999), e('new.rs', 'dd', 999)];
  assert.deepEqual(stash.mtimePlan(saved, current), {
    restore: [['src/lib.rs', 100, 5]],
    touch: ['src/main.rs', 'new.rs'],
    restored: 1,
    touched: 2,
  });
  assert.throws(() => stash.mtimePlan([{ ...e('x', 'h', 1), kind: 'pipe' }], []), /saved.*kind/);
});
