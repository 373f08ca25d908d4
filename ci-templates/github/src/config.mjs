// Inputs, keys and the state handed from the restore step to the save step. The key is
// computed once, at restore, by the wasm package (the same code as `cargo stash key`);
// the save step reads it from the state and never recomputes it. Inputs named as in
// rust-cache mean what rust-cache documents (README.md lists where we differ on purpose).

import * as core from '@actions/core';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import stash from '../../../wasm/pkg/index.js';

const STATE = 'cargo-stash';
/** The cargo-stash release this action release installs for `store:` (the crate's version). */
export const PINNED_VERSION = '0.1.0';
/** The restore step's state for a `save/` step of the same job (a post step reads its
 *  own action's state instead). */
export const STATE_ENV = 'CARGO_STASH_ACTION_STATE';

/** rust-cache's boolean parsing: only `true` (any case) is true. */
function flag(name, fallback = 'false') {
  return (core.getInput(name) || fallback).trim().toLowerCase() === 'true';
}

function words(value) {
  return value.split(/\s+/).filter(Boolean);
}

/** `root` or `root -> target` lines (rust-cache): the target dir is relative to root. */
export function parseWorkspaces(text) {
  const out = [];
  for (const line of (text || '.').trim().split('\n')) {
    if (!line.trim()) continue;
    const [root, target] = line.split('->').map((s) => s.trim());
    out.push({ root: root || '.', target: target || null });
  }
  return out.length ? out : [{ root: '.', target: null }];
}

/** env-vars are name prefixes (rust-cache): every set, non-empty variable starting with
 *  one is keyed. The result is exact names for the key's `extra_env`. */
export function envVarNames(prefixes, env = process.env) {
  if (!prefixes.length) return [];
  return Object.keys(env)
    .filter((k) => env[k] && prefixes.some((p) => k.startsWith(p)))
    .sort();
}

export function readInputs(env = process.env) {
  const envPrefixes = words(core.getInput('env-vars'));
  return {
    prefixKey: core.getInput('prefix-key') || 'v0-rust',
    sharedKey: core.getInput('shared-key'),
    key: core.getInput('key'),
    envPrefixes,
    envVars: envVarNames(envPrefixes, env),
    workspaces: parseWorkspaces(core.getInput('workspaces')),
    cacheDirectories: words(core.getInput('cache-directories')),
    cacheTargets: flag('cache-targets', 'true'),
    cacheOnFailure: flag('cache-on-failure'),
    cacheAllCrates: flag('cache-all-crates'),
    cacheWorkspaceCrates: flag('cache-workspace-crates', 'true'),
    saveIf: flag('save-if', 'true'),
    lookupOnly: flag('lookup-only'),
    failOnCacheMiss: flag('fail-on-cache-miss'),
    cacheBin: flag('cache-bin', 'true'),
    profile: core.getInput('profile') || 'dev',
    targets: core
      .getInput('targets')
      .split(/[\s,]+/)
      .filter(Boolean),
    store: core.getInput('store').trim(),
    bin: core.getInput('bin') || 'cargo-stash',
    version: core.getInput('version') || PINNED_VERSION,
    install: flag('install', 'true'),
    project: core.getInput('project').trim(),
    unprotect: flag('unprotect'),
  };
}

/** `prefix-key-[shared-key | key-job]`, as rust-cache: what keeps jobs apart. */
export function keyPrefix(inputs, env = process.env) {
  const scope = inputs.sharedKey || [inputs.key, env.GITHUB_JOB].filter(Boolean).join('-');
  return [inputs.prefixKey, scope].filter(Boolean).join('-');
}

/** Whether this run may write where protected branches read: not a pull request (its
 *  code may come from a fork), and a protected ref or the default branch. */
export function trusted(env = process.env) {
  const event = env.GITHUB_EVENT_NAME || '';
  if (event.startsWith('pull_request') || (env.GITHUB_REF || '').startsWith('refs/pull/')) return false;
  if (env.GITHUB_REF_PROTECTED === 'true') return true;
  const branch = defaultBranch(env);
  return Boolean(branch) && env.GITHUB_REF === `refs/heads/${branch}`;
}

function defaultBranch(env) {
  try {
    return JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, 'utf8')).repository?.default_branch;
  } catch {
    return undefined;
  }
}

/** A project name made key-safe and kept unique: readable part plus a digest of the
 *  exact name (GitHub names are case-insensitive: lower-cased first). */
export function projectIdent(name) {
  const exact = name.toLowerCase();
  const readable = exact.replace(/[^a-z0-9._]/g, '_').slice(0, 40);
  return `${readable}.${crypto.createHash('sha256').update(exact).digest('hex').slice(0, 8)}`;
}

/** The prefix of every key. With `store:` (a bucket other repositories may share) it
 *  starts with the trust level and the repository; GitHub's cache is per repository and
 *  keeps pull requests' entries apart by itself. */
export function fullPrefix(inputs, env = process.env) {
  const own = keyPrefix(inputs, env);
  if (!inputs.store) return own;
  const project = inputs.project || env.GITHUB_REPOSITORY || '';
  const parts = [];
  if (!inputs.unprotect) parts.push(trusted(env) ? 'protected' : 'unprotected');
  if (project) parts.push(projectIdent(project));
  parts.push(own);
  return parts.join('-');
}

/** Keys of one workspace plus the directories they cover. */
export function workspaceKeys(ws, inputs, env = process.env) {
  const cwd = path.resolve(ws.root);
  const metadata = stash.cargoMetadata({ cwd, env });
  const root = metadata.workspace_root;
  const rustc = env.RUSTC || 'rustc';
  const rustcVersion = execFileSync(rustc, ['-vV'], { cwd: root, env, encoding: 'utf8' });
  const keyInputs = stash.gatherKeyInputs({
    rustcVersion,
    metadata,
    env,
    prefix: fullPrefix(inputs, env),
    targets: inputs.targets,
    profile: inputs.profile,
    extraEnv: inputs.envVars,
  });
  const keys = stash.computeKey(keyInputs);
  // rust-cache's `root -> target` names the target dir; else Cargo's own answer.
  const targetDirs = [ws.target ? path.join(cwd, ws.target) : metadata.target_directory];
  if (!ws.target && metadata.build_directory && metadata.build_directory !== metadata.target_directory) {
    targetDirs.push(metadata.build_directory);
  }
  const members = metadata.packages.filter((p) => !p.source).map((p) => p.name);
  return { dir: cwd, root, manifestPath: path.join(root, 'Cargo.toml'), cargoHome: keyInputs.cargo_home, targetDirs, members, keys };
}

export function printKeys(ws) {
  core.startGroup(`cargo-stash key of ${ws.root}`);
  core.info(`target   ${ws.keys.target.key}`);
  core.info(`registry ${ws.keys.registry.key}`);
  core.info(`ladder   ${ws.keys.target.ladder.join('\n         ')}`);
  core.info('inputs (segment, digest, value):');
  for (const l of ws.keys.explain) {
    core.info(`  ${l.input.padEnd(28)} ${l.segment.padEnd(9)} ${l.digest} ${l.value}`);
  }
  core.endGroup();
}

/** Hands the state to the post step, and to a `save/` step through the environment. */
export function saveState(state) {
  const slim = { ...state, workspaces: state.workspaces.map((w) => ({ ...w, keys: { ...w.keys, explain: [] } })) };
  const text = JSON.stringify(slim);
  core.saveState(STATE, text);
  core.exportVariable(STATE_ENV, text);
}

/** The restore step's state: `from` is `post` in the combined action's post step,
 *  `env` in a `save/` step of the same job. */
export function loadState(env = process.env) {
  const own = core.getState(STATE);
  if (own) return { state: JSON.parse(own), from: 'post' };
  return env[STATE_ENV] ? { state: JSON.parse(env[STATE_ENV]), from: 'env' } : undefined;
}

/** Cache trouble never fails the job: it is reported and the build runs cold. */
export function reportProblem(what, err) {
  core.warning(`cargo-stash: ${what}: ${err instanceof Error ? err.message : err}`);
  if (err instanceof Error && err.stack) core.debug(err.stack);
}

export { stash };
