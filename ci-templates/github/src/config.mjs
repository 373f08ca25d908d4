// Inputs, keys and the state handed from the main step to the post step. The key is
// computed once, here, by the wasm package (the same code as `cargo stash key`); the post
// step reads it from the state and never recomputes it.

import * as core from '@actions/core';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import stash from '../../../wasm/pkg/index.js';

const STATE = 'cargo-stash';

function list(value) {
  return value.split(/[\s,]+/).filter(Boolean);
}

export function readInputs() {
  const bool = (name) => core.getInput(name).trim().toLowerCase() === 'true';
  const workspaces = core
    .getMultilineInput('workspaces')
    .map((line) => line.split('->')[0].trim())
    .filter(Boolean);
  return {
    prefixKey: core.getInput('prefix-key'),
    sharedKey: core.getInput('shared-key'),
    key: core.getInput('key'),
    envVars: list(core.getInput('env-vars')),
    workspaces: workspaces.length ? workspaces : ['.'],
    profile: core.getInput('profile') || 'dev',
    targets: list(core.getInput('targets')),
    cacheOnFailure: bool('cache-on-failure'),
    saveIf: core.getInput('save-if').trim().toLowerCase() !== 'false',
    lookupOnly: bool('lookup-only'),
    cacheBin: core.getInput('cache-bin').trim().toLowerCase() !== 'false',
    store: core.getInput('store').trim(),
    bin: core.getInput('bin') || 'cargo-stash',
  };
}

/** `[prefix-key]-[shared-key | job[-key]]`: what keeps jobs apart. */
export function keyPrefix(inputs, env = process.env) {
  const scope = inputs.sharedKey || [env.GITHUB_JOB, inputs.key].filter(Boolean).join('-');
  return [inputs.prefixKey, scope].filter(Boolean).join('-');
}

/** Keys of one workspace plus the directories they cover. */
export function workspaceKeys(dir, inputs, env = process.env) {
  const cwd = path.resolve(dir);
  const metadata = stash.cargoMetadata({ cwd, env });
  const root = metadata.workspace_root;
  const rustc = env.RUSTC || 'rustc';
  const rustcVersion = execFileSync(rustc, ['-vV'], { cwd: root, env, encoding: 'utf8' });
  const keyInputs = stash.gatherKeyInputs({
    rustcVersion,
    metadata,
    env,
    prefix: keyPrefix(inputs, env),
    targets: inputs.targets,
    profile: inputs.profile,
    extraEnv: inputs.envVars,
  });
  const keys = stash.computeKey(keyInputs);
  const targetDirs = [metadata.target_directory];
  if (metadata.build_directory && metadata.build_directory !== metadata.target_directory) {
    targetDirs.push(metadata.build_directory);
  }
  return {
    dir: cwd,
    root,
    manifestPath: path.join(root, 'Cargo.toml'),
    cargoHome: keyInputs.cargo_home,
    targetDirs,
    keys,
  };
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

export function saveState(state) {
  core.saveState(STATE, JSON.stringify(state));
}

export function loadState() {
  const raw = core.getState(STATE);
  return raw ? JSON.parse(raw) : undefined;
}

/** Cache trouble never fails the job: it is reported and the build runs cold. */
export function reportProblem(what, err) {
  core.warning(`cargo-stash: ${what}: ${err instanceof Error ? err.message : err}`);
  if (err instanceof Error && err.stack) core.debug(err.stack);
}

export { stash };
