'use strict';
// Plain-object API over the wasm-bindgen module. Values cross into wasm as JSON text;
// every rule (keys, classification, plans) lives in stash-core, none here.

const wasm = require('./stash_wasm.js');
const { gatherKeyInputs, cargoMetadata } = require('./gather.js');

function json(name, value, kind) {
  const ok = kind === 'array' ? Array.isArray(value)
    : value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!ok) {
    throw new TypeError(`${name}: expected ${kind === 'array' ? 'an array' : 'an object'}, got ${describe(value)}`);
  }
  return JSON.stringify(value);
}

function text(name, value) {
  if (typeof value !== 'string') {
    throw new TypeError(`${name}: expected a string, got ${describe(value)}`);
  }
  return value;
}

function describe(v) {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

const utf8 = new TextEncoder();

/**
 * The inputs as the wasm functions take them: JSON, and a string lockfile apart as UTF-8
 * bytes (copied into wasm memory at once, neither escaped into the JSON nor unescaped).
 */
function keyArgs(inputs) {
  if (inputs !== null && typeof inputs === 'object' && typeof inputs.lockfile === 'string') {
    return [json('inputs', { ...inputs, lockfile: null }, 'object'), utf8.encode(inputs.lockfile)];
  }
  return [json('inputs', inputs, 'object'), undefined];
}

/** Key and restore ladder of both layers, plus the explanation of every input. */
function computeKey(inputs) {
  return JSON.parse(wasm.computeKey(...keyArgs(inputs)));
}

/** Every input of a key, the segment it feeds and a digest of its value. */
function explain(inputs) {
  return JSON.parse(wasm.explain(...keyArgs(inputs)));
}

/** Cargo.lock reduced to the registry/git packages the key depends on. */
function reduceLockfile(lockfile) {
  return wasm.reduceLockfile(text('lockfile', lockfile));
}

/** A member's Cargo.toml with what cannot change dependency artifacts removed. */
function normalizeManifest(path, manifest) {
  return wasm.normalizeManifest(text('path', path), text('manifest', manifest));
}

/** `rustc -vV` output -> {release, commit_hash, host}. */
function parseRustcVersion(output) {
  return JSON.parse(wasm.parseRustcVersion(text('rustcVersion', output)));
}

/** Only the environment variables that change artifacts (plus `extraEnv`). */
function artifactEnv(env, extraEnv = []) {
  const clean = {};
  for (const [k, v] of Object.entries(env ?? {})) {
    if (typeof v === 'string') clean[k] = v;
  }
  return JSON.parse(wasm.artifactEnv(JSON.stringify(clean), json('extraEnv', extraEnv, 'array')));
}

/** What each path of a target-dir listing is: unit (with id), uplifted, incremental ... */
function classify(entries) {
  return JSON.parse(wasm.classify(json('entries', entries, 'array')));
}

/** The sanitization plan of a listing: packs to keep, hard links, paths to drop. */
function plan(entries, options = {}) {
  return JSON.parse(wasm.plan(json('entries', entries, 'array'), json('options', options, 'object')));
}

/** Units this job used, from the fingerprint files whose atime moved off the sentinel
 *  since the restore; `null` when none moved (no build ran: keep every unit). */
function usedUnits(entries, touched) {
  return JSON.parse(wasm.usedUnits(json('entries', entries, 'array'), json('touched', touched, 'array')));
}

/** Content-gated mtime restore: which tracked files get their saved mtime back
 *  (same kind, size and hash) and which are touched. Entries are `SourceEntry`s. */
function mtimePlan(saved, current) {
  return JSON.parse(wasm.mtimePlan(json('saved', saved, 'array'), json('current', current, 'array')));
}

module.exports = {
  computeKey,
  explain,
  reduceLockfile,
  normalizeManifest,
  parseRustcVersion,
  artifactEnv,
  classify,
  plan,
  usedUnits,
  mtimePlan,
  isFingerprint: wasm.isFingerprint,
  SENTINEL_ATIME: wasm.sentinelAtime(),
  gatherKeyInputs: (options) => gatherKeyInputs(options, { parseRustcVersion, artifactEnv }),
  cargoMetadata: ({ cargo = process.env.CARGO || 'cargo', manifestPath, cwd = process.cwd(), env = process.env } = {}) =>
    JSON.parse(cargoMetadata({ cargo, manifestPath, cwd, env })),
  osLabel: wasm.osLabel,
  archLabel: wasm.archLabel,
  KEY_SCHEMA: wasm.keySchema(),
  VERSION: wasm.version(),
};
