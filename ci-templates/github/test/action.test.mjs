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
  return { base, root, cargoHome, env, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
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
  assert.equal(j1.outputs.key, nativeKey(r, 'v1-build').target.key, 'the wasm key is the native key');
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
  const inputs = { 'prefix-key': 'v1', 'cache-bin': 'false', 'save-if': 'true' };
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
  const j2 = job(r, 'second', inputs, env);
  await j2.main();
  assert.equal(j2.outputs['cache-hit'], 'true', j2.log());
  assert.ok(fs.existsSync(path.join(r.cargoHome, 'registry/cache/example/itoa-1.0.0.crate')), 'registry restored');
  const units = build(r);
  assert.ok(units.length >= 3 && units.every((u) => u.fresh), `every unit fresh after restore: ${JSON.stringify(units)}\n${j2.log()}`);
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
  assert.match(j3.log(), /[1-9]\d* unused units/, j3.log());
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
  const j2 = job(r, 'bad-bin', { 'prefix-key': 'v1', store: 'file:///nonexistent', bin: path.join(r.base, 'no-such-binary') });
  assert.equal((await j2.main()).code, 0, j2.log());
  assert.match(j2.log(), /::warning::cargo-stash: restore of .* failed/);
  assert.equal((await j2.post()).code, 0, j2.log());
});
