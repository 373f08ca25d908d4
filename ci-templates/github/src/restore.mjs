// Restore step (the combined action's main step, and `restore/`): compute the keys with
// the wasm package, restore before the build, and hand the keys to the save step.

import * as core from '@actions/core';
import { fullPrefix, printKeys, readInputs, reportProblem, saveState, workspaceKeys } from './config.mjs';
import { markUnits } from './cleanup.mjs';
import { restoreMtimes } from './mtime.mjs';
import { actionsCache, ensureBinary, extraPaths, nativeStore } from './store.mjs';

/** Keys are needed even by a save-only run, so they are computed first. */
function computeWorkspaces(inputs) {
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
  return workspaces;
}

/** Through the binary: it restores, marks units and restores mtimes itself. */
async function restoreNative(inputs, workspaces, state) {
  for (const flag of ['cache-bin', 'cache-directories', 'cache-all-crates', 'cache-workspace-crates']) {
    if (core.getInput(flag)) core.debug(`cargo-stash: ${flag} applies to GitHub's cache only`);
  }
  try {
    inputs.bin = await ensureBinary(inputs);
  } catch (err) {
    for (const ws of workspaces) state.restored[ws.root] = { target: null };
    inputs.bin = null;
    reportProblem('the cache is skipped', err);
    return;
  }
  const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: fullPrefix(inputs) });
  for (const ws of workspaces) {
    try {
      const out = await native.restore(ws, { lookupOnly: inputs.lookupOnly });
      if (out.key !== ws.keys.target.key) {
        core.warning(`cargo-stash: the binary computed key ${out.key}, the wasm package ${ws.keys.target.key}: versions differ?`);
      }
      state.restored[ws.root] = { target: out.hit === 'miss' ? null : out.hit === 'exact' ? out.key : out.restored_key ?? null };
      core.info(`cargo-stash: ${out.hit} for ${ws.root}${out.restored_key ? ` (${out.restored_key})` : ''}`);
    } catch (err) {
      state.restored[ws.root] = { target: null };
      reportProblem(`restore of ${ws.root} failed`, err);
    }
  }
}

/** Through GitHub's cache: target dirs per workspace, then one registry layer. */
async function restoreActionsCache(inputs, workspaces, state) {
  const lookupOnly = inputs.lookupOnly;
  for (const ws of inputs.cacheTargets ? workspaces : []) {
    try {
      const target = await actionsCache.restore(ws.targetDirs, ws.keys.target.key, ws.keys.target.ladder, { lookupOnly });
      state.restored[ws.root] = { target: target ?? null };
      if (target && !lookupOnly) {
        let newest = 0;
        for (const dir of ws.targetDirs) {
          const m = markUnits(dir);
          if (m.marked) state.marked.push(dir);
          newest = Math.max(newest, m.newest);
        }
        restoreMtimes(ws, newest);
      }
    } catch (err) {
      state.restored[ws.root] = { target: null };
      reportProblem(`restore of ${ws.root} failed`, err);
    }
  }
  // One registry layer: the downloaded crates of every workspace share CARGO_HOME.
  const first = workspaces[0];
  if (first) {
    try {
      const paths = extraPaths(first.cargoHome, inputs);
      const reg = await actionsCache.restore(paths, first.keys.registry.key, first.keys.registry.ladder, { lookupOnly });
      state.restored.registry = reg ?? null;
    } catch (err) {
      reportProblem('restore of the registry failed', err);
    }
  }
}

async function run() {
  const inputs = readInputs();
  core.exportVariable('CACHE_ON_FAILURE', String(inputs.cacheOnFailure));
  const workspaces = computeWorkspaces(inputs);
  const state = { mode: inputs.store ? 'native' : 'actions-cache', inputs, workspaces, restored: {}, marked: [] };
  const primary = workspaces[0]?.keys.target.key ?? '';
  core.setOutput('cache-primary-key', primary);
  core.setOutput('key', primary);

  if (inputs.store) {
    await restoreNative(inputs, workspaces, state);
  } else if (!actionsCache.available()) {
    core.warning("cargo-stash: GitHub's cache service is not available to this job; nothing is restored");
  } else {
    await restoreActionsCache(inputs, workspaces, state);
  }
  // Without cached target dirs, the registry layer is what was (or was not) found.
  const matched = inputs.cacheTargets || inputs.store
    ? workspaces.map((w) => state.restored[w.root]?.target ?? null)
    : [state.restored.registry ?? null];
  const wanted = inputs.cacheTargets || inputs.store
    ? workspaces.map((w) => w.keys.target.key)
    : [workspaces[0]?.keys.registry.key];
  const exact = workspaces.length > 0 && matched.every((m, i) => m === wanted[i]);
  core.setOutput('cache-hit', String(exact));
  core.setOutput('cache-matched-key', matched[0] ?? '');
  state.restoredAt = Date.now();
  saveState(state);
  if (inputs.failOnCacheMiss && !matched.some(Boolean)) {
    core.setFailed(`cargo-stash: no cache entry for ${primary || 'this job'} and fail-on-cache-miss is true`);
  }
}

run().catch((err) => reportProblem('restore failed', err));
