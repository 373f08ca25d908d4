// The action's main (restore) and post (save) entry points, bundled in dist/, run under
// Node with GitHub's conventions (see github.mjs) around real `cargo build`s of a small
// workspace (two members, a path dependency, a build script; no network needed):
//
// - with `store:`: through the native cargo-stash binary and a real file:// store;
// - by default: through @actions/cache against a local stand-in of GitHub's cache
//   service (cache-service.mjs) whose blobs live in a real Azurite. GitHub's service
//   cannot run here, so its HTTP API is mocked; everything else is real.
//
// Needs: dist/ built (npm run build), the native binary ($STASH_NATIVE_BIN or
// target/debug/cargo-stash) and Azurite's blob endpoint in $STASH_AZURITE_BLOB_URL
// (scripts/wasm-test.sh starts one); each part skips with a message when its piece is missing.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Job, actionDir } from './github.mjs';
import { startCacheService } from './cache-service.mjs';

const repo = path.resolve(actionDir, '../..');
const nativeBin = process.env.STASH_NATIVE_BIN || process.env.CARGO_STASH_BIN || path.join(repo, 'target/debug/cargo-stash');
const azurite = process.env.STASH_AZURITE_BLOB_URL;
const noNative = fs.existsSync(nativeBin) ? false : `native binary ${nativeBin} is missing: cargo build -p cargo-stash, or set STASH_NATIVE_BIN`;
const noAzurite = azurite ? false : 'STASH_AZURITE_BLOB_URL is not set: run scripts/wasm-test.sh, which starts Azurite';

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** A fresh "runner": a checkout of the fixture workspace, its own CARGO_HOME and temp. */
function runner(name) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `stash-action-${name}-`));
  const root = path.join(base, 'checkout');
  write(path.join(root, 'Cargo.toml'), '[workspace]\nmembers = ["a", "b"]\nresolver = "2"\n');
  write(path.join(root, 'a/Cargo.toml'), '[package]\nname = "stash-fixture-a"\nversion = "0.1.0"\nedition = "2021"\n');
  write(path.join(root, 'a/src/lib.rs'), 'pub fn answer() -> u32 {\n    42\n}\n');
  write(
    path.join(root, 'b/Cargo.toml'),
    '[package]\nname = "stash-fixture-b"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nstash-fixture-a = { path = "../a" }\n',
  );
  write(
    path.join(root, 'b/build.rs'),
    'fn main() {\n    let out = std::env::var("OUT_DIR").unwrap();\n    std::fs::write(format!("{out}/gen.rs"), "const GEN: u32 = 1;").unwrap();\n    println!("cargo:rerun-if-changed=build.rs");\n}\n',
  );
  write(
    path.join(root, 'b/src/main.rs'),
    'include!(concat!(env!("OUT_DIR"), "/gen.rs"));\n\nfn main() {\n    println!("{}", stash_fixture_a::answer() + GEN);\n}\n',
  );
  const cargoHome = path.join(base, 'cargo-home');
  // Stands for downloaded crates: the registry layer must carry them.
  write(path.join(cargoHome, 'registry/index/example/config.json'), '{"dl":"x"}');
  write(path.join(cargoHome, 'registry/cache/example/itoa-1.0.0.crate'), 'crate bytes');
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('CARGO_STASH_') || k.startsWith('ACTIONS_') || k.startsWith('GITHUB_') || k.startsWith('INPUT_') || k.startsWith('STATE_')) delete env[k];
  }
  Object.assign(env, {
    CARGO_HOME: cargoHome,
    RUSTUP_HOME: process.env.RUSTUP_HOME || path.join(os.homedir(), '.rustup'),
    CARGO_TARGET_DIR: path.join(root, 'target'),
    CARGO_INCREMENTAL: '0',
    RUNNER_TEMP: path.join(base, 'runner-temp'),
    GITHUB_JOB: 'build',
  });
  fs.mkdirSync(env.RUNNER_TEMP);
  execFileSync('cargo', ['generate-lockfile', '--offline'], { cwd: root, env, stdio: 'ignore' });
  // A git checkout, as actions/checkout makes: the mtime restore reads git's file list.
  write(path.join(root, '.gitignore'), '/target/\n');
  const git = (...args) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: root, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return { base, root, cargoHome, env, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/** What a fresh clone does to the checkout: every tracked file gets a new mtime. */
function freshCloneMtimes(r) {
  const later = new Date(Date.now() + 2000);
  for (const f of execFileSync('git', ['ls-files', '-z'], { cwd: r.root, encoding: 'utf8' }).split('\0').filter(Boolean)) {
    fs.utimesSync(path.join(r.root, f), later, later);
  }
}

/** The key prefix a `store:` snapshot list is filtered by, as cargo-stash sanitizes it. */
function snapshots(r, store, prefix) {
  const out = JSON.parse(
    execFileSync(nativeBin, ['ls', '--json', '--store', store, '--prefix', prefix], { cwd: r.root, env: r.env, encoding: 'utf8' }),
  );
  return out.snapshots.filter((s) => s.layer === 'target').length;
}

/** `cargo build`, returning each compiled unit's name and whether it was fresh. */
function build(r, args = ['--workspace']) {
  const out = execFileSync('cargo', ['build', '--offline', '--message-format=json', ...args], {
    cwd: r.root,
    env: r.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((m) => m.reason === 'compiler-artifact')
    .map((m) => ({ name: m.target.name, kind: m.target.kind.join(','), fresh: m.fresh }));
}

function nativeKey(r, prefix) {
  return JSON.parse(
    execFileSync(nativeBin, ['key', '--json', '--prefix', prefix, '--manifest-path', path.join(r.root, 'Cargo.toml')], {
      cwd: r.root,
      env: r.env,
      encoding: 'utf8',
    }),
  );
}

function job(r, name, inputs, env = {}) {
  return new Job({ dir: path.join(r.base, 'jobs', name), cwd: r.root, env: { ...r.env, ...env }, inputs });
}

test('with store: restore and save through the native binary and a file:// store', { skip: noNative }, async (t) => {
  const r = runner('native');
  t.after(r.cleanup);
  const storeDir = path.join(r.base, 'store');
  fs.mkdirSync(storeDir);
  const inputs = { store: `file://${storeDir}`, bin: nativeBin, 'prefix-key': 'v1', 'save-if': 'true', 'cache-on-failure': 'false' };

  const j1 = job(r, 'first', inputs);
  let step = await j1.main();
  assert.equal(step.code, 0, j1.log());
  assert.equal(j1.outputs['cache-hit'], 'false', j1.log());
  // With a store, pull requests and other repositories are kept apart by the prefix
  // (no GITHUB_REF here: not a protected ref).
  assert.equal(j1.outputs.key, nativeKey(r, 'unprotected-v1-build').target.key, 'the wasm key is the native key');
  assert.equal(j1.outputs['cache-primary-key'], j1.outputs.key);
  assert.equal(j1.outputs['cache-matched-key'], '', 'a miss matches nothing');
  assert.equal(j1.env.CACHE_ON_FAILURE, 'false', 'exported for post-if');
  assert.ok(build(r).every((u) => !u.fresh), 'cold build');
  step = await j1.post();
  assert.equal(step.code, 0, j1.log());
  assert.match(j1.log(), /cargo-stash: saved /, j1.log());
  assert.doesNotMatch(j1.log(), /the binary computed key/, 'binary and wasm agree on the key');
  assert.ok(fs.readdirSync(storeDir).length > 0, 'the store has the snapshot');

  // A new job on a fresh machine: no target dir.
  fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  const j2 = job(r, 'second', inputs);
  await j2.main();
  assert.equal(j2.outputs['cache-hit'], 'true', j2.log());
  assert.equal(j2.outputs['cache-matched-key'], j2.outputs['cache-primary-key'], j2.log());
  const units = build(r);
  assert.ok(units.length >= 3 && units.every((u) => u.fresh), `every unit fresh after restore: ${JSON.stringify(units)}\n${j2.log()}`);
  await j2.post();
  assert.match(j2.log(), /skipped-exact-hit/, j2.log());
});

test("by default: @actions/cache against a stand-in of GitHub's cache service on Azurite", { skip: noAzurite }, async (t) => {
  const service = await startCacheService({ blobEndpoint: azurite });
  t.after(() => service.close());
  const r = runner('gha');
  t.after(r.cleanup);
  const env = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: service.url, ACTIONS_RUNTIME_TOKEN: service.token };
  const inputs = { 'prefix-key': 'v1', 'cache-bin': 'false', 'save-if': 'true', 'cache-all-crates': 'true' };
  const targetDir = path.join(r.root, 'target');

  const j1 = job(r, 'first', inputs, env);
  await j1.main();
  assert.equal(j1.outputs['cache-hit'], 'false', j1.log());
  if (!noNative) assert.equal(j1.outputs.key, nativeKey(r, 'v1-build').target.key, 'the wasm key is the native key');
  build(r);
  fs.mkdirSync(path.join(targetDir, 'debug/incremental/junk'), { recursive: true });
  fs.writeFileSync(path.join(targetDir, 'debug/incremental/junk/x.bin'), 'x');
  await j1.post();
  const saved = service.entries.filter((e) => e.finalized).map((e) => e.key);
  assert.deepEqual(saved.sort(), [j1.outputs.key, j1.outputs.key.replace(/-linux-.*-([0-9a-f]{10})$/, '-registry-$1')].sort(), j1.log());
  assert.ok(!fs.existsSync(path.join(targetDir, 'debug/incremental/junk')), 'sanitized before saving');
  for (const e of service.entries) {
    const props = await service.blobs.getBlobClient(e.blob).getProperties();
    assert.equal(props.contentLength, e.size, 'the blob is in Azurite');
  }

  // Fresh machine: no target dir, no downloaded crates.
  fs.rmSync(targetDir, { recursive: true, force: true });
  const look = job(r, 'lookup', { ...inputs, 'lookup-only': 'true' }, env);
  await look.main();
  assert.equal(look.outputs['cache-hit'], 'true', look.log());
  assert.ok(!fs.existsSync(targetDir), 'lookup-only downloads nothing');
  await look.post();
  assert.match(look.log(), /not saving \(lookup-only\)/);
  fs.rmSync(path.join(r.cargoHome, 'registry'), { recursive: true, force: true });
  // A fresh clone: new mtimes everywhere, and one member's source really changed.
  freshCloneMtimes(r);
  const mainRs = path.join(r.root, 'b/src/main.rs');
  fs.writeFileSync(mainRs, fs.readFileSync(mainRs, 'utf8').replace('answer() + GEN', 'answer() + GEN + 1'));
  const j2 = job(r, 'second', inputs, env);
  await j2.main();
  assert.equal(j2.outputs['cache-hit'], 'true', j2.log());
  assert.match(j2.log(), /mtimes of .*: \d+ restored, 1 touched/, j2.log());
  assert.ok(fs.existsSync(path.join(r.cargoHome, 'registry/cache/example/itoa-1.0.0.crate')), 'registry restored');
  const units = build(r);
  // Content-gated mtime restore with GitHub's cache: unchanged members stay fresh, the
  // changed one is rebuilt (never stale), whatever the clone did to mtimes.
  const stale = units.filter((u) => !u.fresh).map((u) => `${u.name}:${u.kind}`);
  assert.deepEqual(stale, ['stash-fixture-b:bin'], `${JSON.stringify(units)}\n${j2.log()}`);
  assert.equal(execFileSync(path.join(targetDir, 'debug/stash-fixture-b'), { encoding: 'utf8' }).trim(), '44', 'the rebuilt binary has the change');
  execFileSync('git', ['checkout', '--', 'b/src/main.rs'], { cwd: r.root });
  const before = service.entries.length;
  await j2.post();
  assert.equal(service.entries.length, before, `an exact hit is not saved again\n${j2.log()}`);
  assert.ok(service.calls.every((c) => c.method !== 'CreateCacheEntry' || c.request.key !== j2.outputs.key || c === service.calls.find((x) => x.method === 'CreateCacheEntry')));

  // A lockfile change falls back to the first snapshot; this job builds only `a`, so
  // the units of `b` go unused and are pruned from what it saves.
  fs.rmSync(targetDir, { recursive: true, force: true });
  fs.appendFileSync(
    path.join(r.root, 'Cargo.lock'),
    '\n[[package]]\nname = "unused-dep"\nversion = "1.0.0"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "00"\n',
  );
  const lockWithDep = fs.readFileSync(path.join(r.root, 'Cargo.lock'), 'utf8');
  const j3 = job(r, 'third', inputs, env);
  await j3.main();
  assert.equal(j3.outputs['cache-hit'], 'false', j3.log());
  assert.notEqual(j3.outputs.key, j1.outputs.key);
  assert.match(j3.log(), /Cache hit for restore-key: /, j3.log());
  assert.ok(build(r, ['-p', 'stash-fixture-a']).every((u) => u.fresh), j3.log());
  await j3.post();
  assert.match(j3.log(), /[1-9]\d* units left out/, j3.log());
  assert.ok(service.entries.some((e) => e.key === j3.outputs.key && e.finalized), j3.log());

  // Restoring that snapshot brings `a` back fresh and nothing of `b`.
  fs.rmSync(targetDir, { recursive: true, force: true });
  fs.writeFileSync(path.join(r.root, 'Cargo.lock'), lockWithDep);
  const j4 = job(r, 'fourth', inputs, env);
  await j4.main();
  assert.equal(j4.outputs['cache-hit'], 'true', j4.log());
  const fp = fs.readdirSync(path.join(targetDir, 'debug/.fingerprint'));
  assert.ok(fp.some((d) => d.startsWith('stash-fixture-a-')), fp.join(' '));
  assert.ok(!fp.some((d) => d.startsWith('stash-fixture-b-')), `b was pruned: ${fp.join(' ')}`);
  assert.ok(build(r, ['-p', 'stash-fixture-a']).every((u) => u.fresh));
});

test('cache trouble never fails the job', async (t) => {
  const r = runner('trouble');
  t.after(r.cleanup);
  // No cache service at all, then a store the binary cannot use.
  const j1 = job(r, 'no-service', { 'prefix-key': 'v1' });
  assert.equal((await j1.main()).code, 0, j1.log());
  assert.equal(j1.outputs['cache-hit'], 'false');
  assert.match(j1.log(), /cache service is not available/);
  assert.equal((await j1.post()).code, 0, j1.log());
  const j2 = job(r, 'bad-bin', { 'prefix-key': 'v1', store: 'file:///nonexistent', bin: path.join(r.base, 'no-such-binary'), install: 'false' });
  assert.equal((await j2.main()).code, 0, j2.log());
  assert.match(j2.log(), /::warning::cargo-stash: the cache is skipped: no cargo-stash binary/, j2.log());
  assert.equal((await j2.post()).code, 0, j2.log());
});

// --- rust-cache's inputs, actions/cache's outputs, sub-actions, isolation, the pin ---------

/** Sets INPUT_* for readInputs (as the runner does) while `fn` runs. */
function withInputs(inputs, fn) {
  const names = Object.keys(inputs).map((k) => `INPUT_${k.replace(/ /g, '_').toUpperCase()}`);
  Object.entries(inputs).forEach(([k, v], i) => (process.env[names[i]] = v));
  try {
    return fn();
  } finally {
    for (const n of names) delete process.env[n];
  }
}

test("inputs named as rust-cache's mean what rust-cache documents", async (t) => {
  const config = await import('../src/config.mjs');
  const defaults = withInputs({}, () => config.readInputs({}));
  assert.equal(defaults.prefixKey, 'v0-rust');
  assert.equal(defaults.cacheBin, true, 'cache-bin defaults to true');
  assert.equal(defaults.cacheTargets, true);
  assert.equal(defaults.saveIf, true);
  assert.equal(defaults.cacheAllCrates, false);
  assert.equal(defaults.cacheOnFailure, false);
  assert.equal(defaults.lookupOnly, false);
  // Booleans: only "true", in any case, is true.
  assert.equal(withInputs({ 'cache-bin': 'TRUE' }, () => config.readInputs({})).cacheBin, true);
  assert.equal(withInputs({ 'cache-bin': 'yes' }, () => config.readInputs({})).cacheBin, false);
  assert.equal(withInputs({ 'save-if': 'False' }, () => config.readInputs({})).saveIf, false);
  // env-vars are prefixes of set, non-empty variables.
  const env = { MY_A: '1', MY_B: '', OTHER_X: '2', MYZ: '3', PATH: '/bin' };
  assert.deepEqual(withInputs({ 'env-vars': 'MY_ OTHER' }, () => config.readInputs(env)).envVars, ['MY_A', 'OTHER_X']);
  // workspaces: `dir -> target`, target relative to dir.
  assert.deepEqual(config.parseWorkspaces('. -> out\nsub\n'), [
    { root: '.', target: 'out' },
    { root: 'sub', target: null },
  ]);
  // The prefix: prefix-key, then shared-key, or key and the job.
  assert.equal(config.keyPrefix({ prefixKey: 'v0-rust', sharedKey: '', key: 'k' }, { GITHUB_JOB: 'build' }), 'v0-rust-k-build');
  assert.equal(config.keyPrefix({ prefixKey: 'v0-rust', sharedKey: 's', key: 'k' }, { GITHUB_JOB: 'build' }), 'v0-rust-s');

  // On a real workspace: a variable under an env-vars prefix changes the key, and
  // `-> target` names the directory cached.
  const r = runner('inputs');
  t.after(r.cleanup);
  const keyOf = (inputs, extra) => {
    const e = { ...r.env, ...extra };
    const i = withInputs(inputs, () => config.readInputs(e));
    return config.workspaceKeys(i.workspaces[0], i, e);
  };
  const cwd = process.cwd();
  process.chdir(r.root);
  t.after(() => process.chdir(cwd));
  const k1 = keyOf({ 'env-vars': 'MY_' }, { MY_FLAG: '1' }).keys.target.key;
  const k2 = keyOf({ 'env-vars': 'MY_' }, { MY_FLAG: '2' }).keys.target.key;
  const k3 = keyOf({}, { MY_FLAG: '1' }).keys.target.key;
  const k4 = keyOf({}, { MY_FLAG: '2' }).keys.target.key;
  assert.notEqual(k1, k2, 'keyed under its env-vars prefix');
  assert.equal(k3, k4, 'not keyed without it');
  assert.deepEqual(keyOf({ workspaces: '. -> out' }, {}).targetDirs, [path.join(r.root, 'out')]);
});

test("rust-cache's cache-* inputs on GitHub's cache", { skip: noAzurite }, async (t) => {
  const service = await startCacheService({ blobEndpoint: azurite });
  t.after(() => service.close());
  const r = runner('rc-inputs');
  t.after(r.cleanup);
  const env = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: service.url, ACTIONS_RUNTIME_TOKEN: service.token };
  const extra = path.join(r.base, 'extra');
  write(path.join(extra, 'data.txt'), 'extra');
  write(path.join(r.cargoHome, 'bin/my-tool'), 'a tool');
  const inputs = { 'prefix-key': 'v1', 'cache-directories': extra };

  // Defaults: cache-bin true, cache-all-crates false, cache-directories saved.
  const j1 = job(r, 'first', inputs, env);
  await j1.main();
  build(r);
  await j1.post();
  assert.match(j1.log(), /1 downloaded crates no Cargo.lock uses are not saved/, j1.log());
  for (const p of [path.join(r.cargoHome, 'bin'), path.join(r.cargoHome, 'registry'), extra, path.join(r.root, 'target')]) {
    fs.rmSync(p, { recursive: true, force: true });
  }
  const j2 = job(r, 'second', inputs, env);
  await j2.main();
  assert.equal(j2.outputs['cache-hit'], 'true', j2.log());
  assert.equal(fs.readFileSync(path.join(r.cargoHome, 'bin/my-tool'), 'utf8'), 'a tool', 'cache-bin (default true)');
  assert.equal(fs.readFileSync(path.join(extra, 'data.txt'), 'utf8'), 'extra', 'cache-directories');
  assert.ok(!fs.existsSync(path.join(r.cargoHome, 'registry/cache/example/itoa-1.0.0.crate')), 'an unused crate is not saved');

  // A save right after a restore, with no build in between, keeps every unit: nothing
  // proves one unused (core's rule; the action's own copy of it used to prune them all).
  fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  fs.appendFileSync(path.join(r.root, 'a/Cargo.toml'), '\n[features]\nx = []\n');
  const nb = job(r, 'no-build', inputs, env);
  await nb.main();
  assert.equal(nb.outputs['cache-matched-key'], j1.outputs['cache-primary-key'], nb.log());
  await nb.post();
  assert.match(nb.log(), /was built or read since the restore: every unit kept/, nb.log());
  assert.match(nb.log(), / 0 units left out/, nb.log());
  execFileSync('git', ['checkout', '--', 'a/Cargo.toml'], { cwd: r.root });

  // save-if: only "true" saves.
  const j3 = job(r, 'save-if', { ...inputs, 'prefix-key': 'v2', 'save-if': 'yes' }, env);
  await j3.main();
  await j3.post();
  assert.match(j3.log(), /not saving \(save-if is false\)/);
  assert.ok(!service.entries.some((e) => e.key.startsWith('v2_')), j3.log());

  // cache-targets false: only the registry layer is saved.
  const j4 = job(r, 'no-targets', { ...inputs, 'prefix-key': 'v3', 'cache-targets': 'false' }, env);
  await j4.main();
  await j4.post();
  const v3 = service.entries.filter((e) => e.key.startsWith('v3_')).map((e) => e.key);
  assert.equal(v3.length, 1, j4.log());
  assert.match(v3[0], /-registry-/);

  // cache-workspace-crates false: the members' own units are left out, as rust-cache does.
  const j5 = job(r, 'no-members', { ...inputs, 'prefix-key': 'v4', 'cache-workspace-crates': 'false' }, env);
  await j5.main();
  build(r);
  await j5.post();
  fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  const j6 = job(r, 'no-members-2', { ...inputs, 'prefix-key': 'v4', 'cache-workspace-crates': 'false' }, env);
  await j6.main();
  assert.equal(j6.outputs['cache-hit'], 'true', j6.log());
  const fp = path.join(r.root, 'target/debug/.fingerprint');
  const left = fs.existsSync(fp) ? fs.readdirSync(fp).filter((d) => d.startsWith('stash-fixture-')) : [];
  assert.deepEqual(left, [], j5.log());
});

test('restore/ and save/ sub-actions: a save placed anywhere, under the keys the restore computed', { skip: noNative }, async (t) => {
  const r = runner('sub');
  t.after(r.cleanup);
  const read = (f) => fs.readFileSync(path.join(actionDir, f), 'utf8');
  assert.match(read('action.yml'), /using: node24\n\s+main: dist\/restore\.mjs\n\s+post: dist\/save\.mjs/);
  assert.match(read('restore/action.yml'), /using: node24\n\s+main: \.\.\/dist\/restore\.mjs\n$/);
  assert.match(read('save/action.yml'), /using: node24\n\s+main: \.\.\/dist\/save\.mjs\n$/);
  const storeDir = path.join(r.base, 'store');
  fs.mkdirSync(storeDir);
  const inputs = { store: `file://${storeDir}`, bin: nativeBin, 'prefix-key': 'v1' };

  // fail-on-cache-miss: only when asked.
  const miss = job(r, 'miss', { ...inputs, 'fail-on-cache-miss': 'true' });
  assert.equal((await miss.main()).code, 1, miss.log());
  assert.match(miss.log(), /::error::cargo-stash: no cache entry/);
  const j = job(r, 'restore-then-save', inputs);
  assert.equal((await j.main()).code, 0, j.log());
  build(r);
  // save/ with its own save-if false saves nothing ...
  await j.saveStep({ ...inputs, 'save-if': 'false' });
  assert.match(j.log(), /not saving \(save-if is false\)/);
  assert.equal(fs.readdirSync(storeDir).length, 0, j.log());
  // ... and with the default saves under the restore step's key.
  await j.saveStep();
  assert.match(j.log(), new RegExp(`saved ${j.outputs['cache-primary-key']}`), j.log());

  // A save-only job (no restore step) computes the same key itself.
  fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  const only = job(r, 'save-only', { ...inputs, 'prefix-key': 'v2' });
  build(r);
  await only.saveStep();
  assert.match(only.log(), /no restore step ran in this job/);
  assert.match(only.log(), /cargo-stash: saved unprotected_v2_build-/, only.log());

  // A fallback is matched but not a hit.
  fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  fs.appendFileSync(path.join(r.root, 'b/Cargo.toml'), '\n[features]\nextra = []\n');
  const fb = job(r, 'fallback', inputs);
  await fb.main();
  assert.equal(fb.outputs['cache-hit'], 'false', fb.log());
  assert.equal(fb.outputs['cache-matched-key'], j.outputs['cache-primary-key'], fb.log());
  assert.notEqual(fb.outputs['cache-primary-key'], j.outputs['cache-primary-key']);
});

/** SeaweedFS from target/servers.env (scripts/servers.sh), or CARGO_STASH_SERVERS_ENV. */
function seaweed() {
  const file = process.env.CARGO_STASH_SERVERS_ENV || path.join(repo, 'target/servers.env');
  if (!fs.existsSync(file)) return undefined;
  const env = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^([A-Z_0-9]+)=(.*)$/);
    if (m) env[m[1]] = m[2];
  }
  return env.CARGO_STASH_TEST_S3 ? env : undefined;
}
const s3 = seaweed();
const noS3 = s3 ? false : 'no SeaweedFS: run scripts/servers.sh start, or set CARGO_STASH_SERVERS_ENV';

test('with store: on one SeaweedFS bucket, pull requests never write what main reads, and repositories never read each other', { skip: noNative || noS3 }, async (t) => {
  const r = runner('isolation');
  t.after(r.cleanup);
  const store = `${s3.CARGO_STASH_TEST_S3}/action-${Date.now()}-${process.pid}`;
  const creds = Object.fromEntries(Object.entries(s3).filter(([k]) => k.startsWith('AWS_')));
  const event = path.join(r.base, 'event.json');
  write(event, JSON.stringify({ repository: { default_branch: 'main' } }));
  const push = (repo) => ({ ...creds, GITHUB_EVENT_NAME: 'push', GITHUB_REF: 'refs/heads/main', GITHUB_EVENT_PATH: event, GITHUB_REPOSITORY: repo });
  const pr = (repo) => ({ ...push(repo), GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/5/merge' });
  const inputs = { store, bin: nativeBin, 'prefix-key': 'v1' };
  const fresh = () => fs.rmSync(path.join(r.root, 'target'), { recursive: true, force: true });
  const config = await import('../src/config.mjs');
  const prefixOf = (env, i = { ...inputs, prefixKey: 'v1', sharedKey: '', key: '', unprotect: false, project: '' }) =>
    nativeKey({ ...r, env: { ...r.env, ...creds } }, config.fullPrefix({ ...i, store }, { GITHUB_JOB: 'build', ...env })).target.key.split('-stash1-')[0];
  const lsEnv = { ...r, env: { ...r.env, ...creds } };

  const main1 = job(r, 'main-one', inputs, push('acme/one'));
  await main1.main();
  assert.match(main1.outputs.key, /^protected_acme_one\.[0-9a-f]{8}_v1_build-/, main1.log());
  build(r);
  await main1.post();
  const protectedOne = prefixOf(push('acme/one'));
  assert.equal(snapshots(lsEnv, store, protectedOne), 1, main1.log());

  // A pull request (maybe from a fork) misses main's snapshot and saves under its own.
  fresh();
  const pr1 = job(r, 'pr-one', inputs, pr('acme/one'));
  await pr1.main();
  assert.equal(pr1.outputs['cache-matched-key'], '', pr1.log());
  assert.match(pr1.outputs.key, /^unprotected_acme_one\./);
  build(r);
  await pr1.post();
  assert.equal(snapshots(lsEnv, store, prefixOf(pr('acme/one'))), 1, pr1.log());
  assert.equal(snapshots(lsEnv, store, protectedOne), 1, 'the pull request wrote nothing where main reads');

  // Another repository on the same bucket does not see acme/one's snapshots.
  fresh();
  const other = job(r, 'main-two', inputs, push('acme/two'));
  await other.main();
  assert.equal(other.outputs['cache-matched-key'], '', other.log());

  // And main of acme/one still gets its exact hit.
  fresh();
  const again = job(r, 'main-one-again', inputs, push('acme/one'));
  await again.main();
  assert.equal(again.outputs['cache-hit'], 'true', again.log());
});

test('with store and no binary: installs exactly the pinned cargo-stash with --locked, refuses an impostor', { skip: noNative }, async (t) => {
  const r = runner('pin');
  t.after(r.cleanup);
  const fake = path.join(r.base, 'fake');
  const log = path.join(fake, 'install.log');
  write(
    path.join(fake, 'cargo'),
    `#!/bin/sh\nif [ "$1" = install ]; then\n  printf '%s\\n' "$*" >>'${log}'\n  mkdir -p "$CARGO_HOME/bin"\n` +
      `  if [ -n "$STASH_IMPOSTOR" ]; then printf '#!/bin/sh\\necho cargo-stow 0.0.1\\n' >"$CARGO_HOME/bin/cargo-stash"; chmod +x "$CARGO_HOME/bin/cargo-stash"\n` +
      `  else cp '${nativeBin}' "$CARGO_HOME/bin/cargo-stash"; fi\n  exit 0\nfi\nexec '${execFileSync('sh', ['-c', 'command -v cargo'], { encoding: 'utf8' }).trim()}' "$@"\n`,
  );
  fs.chmodSync(path.join(fake, 'cargo'), 0o755);
  const storeDir = path.join(r.base, 'store');
  fs.mkdirSync(storeDir);
  const inputs = { store: `file://${storeDir}`, bin: 'cargo-stash-not-installed', 'prefix-key': 'v1' };
  const env = { PATH: `${fake}:${process.env.PATH}` };

  const j1 = job(r, 'install', inputs, env);
  assert.equal((await j1.main()).code, 0, j1.log());
  assert.equal(fs.readFileSync(log, 'utf8'), 'install cargo-stash --version =0.1.0 --locked --force\n');
  assert.match(j1.log(), /cargo-stash: miss for /, j1.log());

  fs.rmSync(path.join(r.cargoHome, 'bin'), { recursive: true, force: true });
  const j2 = job(r, 'impostor', inputs, { ...env, STASH_IMPOSTOR: '1' });
  assert.equal((await j2.main()).code, 0, j2.log());
  assert.match(j2.log(), /::warning::cargo-stash: the cache is skipped: .*is not cargo-stash/, j2.log());
  assert.doesNotMatch(j2.log(), /cargo-stash: (miss|exact|fallback) for/);
});
