// Save step (the combined action's post step, and `save/`): sanitize the target dirs
// and save them under the keys the restore step computed (never recomputed when there
// was one); an exact hit is not saved again. A `save/` step without a restore step
// before it computes the keys itself.

import * as core from '@actions/core';
import { fullPrefix, loadState, printKeys, readInputs, reportProblem, workspaceKeys } from './config.mjs';
import { pruneCrates, sanitize } from './cleanup.mjs';
import { recordSources } from './mtime.mjs';
import { actionsCache, ensureBinary, extraPaths, nativeStore } from './store.mjs';

/** The restore step's state, or a fresh one for a save-only job. */
function state() {
  const saved = loadState();
  if (saved?.from === 'post') return saved.state;
  const inputs = readInputs();
  if (saved) {
    // A `save/` step: the keys are the restore step's, whether to save is this step's.
    saved.state.inputs.saveIf = inputs.saveIf;
    return saved.state;
  }
  core.info('cargo-stash: no restore step ran in this job; computing the keys now');
  const workspaces = [];
  for (const ws of inputs.workspaces) {
    try {
      const w = workspaceKeys(ws, inputs);
      printKeys(w);
      workspaces.push(w);
    } catch (err) {
      reportProblem(`no key for workspace ${ws.root}, it will not be cached`, err);
    }
  }
  return { mode: inputs.store ? 'native' : 'actions-cache', inputs, workspaces, restored: {}, marked: [] };
}

async function saveNative({ inputs, workspaces }) {
  try {
    // Resolved by the restore step (null: there was none); a save-only job finds it now.
    inputs.bin = inputs.bin === null ? null : await ensureBinary(inputs);
  } catch (err) {
    inputs.bin = null;
    reportProblem('the cache is skipped', err);
  }
  if (!inputs.bin) return;
  const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: fullPrefix(inputs) });
  for (const ws of workspaces) {
    try {
      // The binary sanitizes, prunes unused units and skips exact hits on its own.
      const out = await native.save(ws);
      core.info(`cargo-stash: ${out.outcome} ${out.key}`);
      for (const w of out.warnings ?? []) core.warning(`cargo-stash: ${w}`);
    } catch (err) {
      reportProblem(`save of ${ws.root} failed`, err);
    }
  }
}

async function saveActionsCache(st) {
  const { inputs, workspaces } = st;
  for (const ws of inputs.cacheTargets ? workspaces : []) {
    const key = ws.keys.target.key;
    if (st.restored[ws.root]?.target === key) {
      core.info(`cargo-stash: ${key} was an exact hit; not saving it again`);
      continue;
    }
    try {
      const dropPackages = inputs.cacheWorkspaceCrates ? [] : ws.members;
      for (const dir of ws.targetDirs) sanitize(dir, { pruneUnused: st.marked.includes(dir), dropPackages });
      recordSources(ws);
      if (await actionsCache.save(ws.targetDirs, key)) core.info(`cargo-stash: saved ${key}`);
    } catch (err) {
      reportProblem(`save of ${ws.root} failed`, err);
    }
  }
  const first = workspaces[0];
  if (first && st.restored.registry !== first.keys.registry.key) {
    try {
      if (!inputs.cacheAllCrates) pruneCrates(first.cargoHome, workspaces.map((w) => `${w.root}/Cargo.lock`));
      const paths = extraPaths(first.cargoHome, inputs);
      if (await actionsCache.save(paths, first.keys.registry.key)) core.info(`cargo-stash: saved ${first.keys.registry.key}`);
    } catch (err) {
      reportProblem('save of the registry failed', err);
    }
  }
}

async function run() {
  const st = state();
  const { inputs } = st;
  if (!inputs.saveIf) {
    core.info('cargo-stash: not saving (save-if is false)');
    return;
  }
  if (inputs.lookupOnly) {
    core.info('cargo-stash: not saving (lookup-only)');
    return;
  }
  if (st.mode === 'native') return saveNative(st);
  if (!actionsCache.available()) {
    core.warning("cargo-stash: GitHub's cache service is not available to this job; nothing is saved");
    return;
  }
  return saveActionsCache(st);
}

run().catch((err) => reportProblem('save failed', err));
