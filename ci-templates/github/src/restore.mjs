// Main step: compute the keys with the wasm package, restore before the build.

import * as core from '@actions/core';
import { keyPrefix, printKeys, readInputs, reportProblem, saveState, workspaceKeys } from './config.mjs';
import { markUnits } from './cleanup.mjs';
import { actionsCache, nativeStore, registryPaths } from './store.mjs';

async function run() {
  const inputs = readInputs();
  core.exportVariable('CACHE_ON_FAILURE', String(inputs.cacheOnFailure));
  // Keys are needed even by a save-only run, so they are computed first.
  const workspaces = [];
  for (const dir of inputs.workspaces) {
    try {
      const ws = workspaceKeys(dir, inputs);
      printKeys(ws);
      workspaces.push(ws);
    } catch (err) {
      reportProblem(`no key for workspace ${dir}, it will not be cached`, err);
    }
  }
  const state = { mode: inputs.store ? 'native' : 'actions-cache', inputs, workspaces, restored: {}, marked: [] };
  core.setOutput('key', workspaces[0]?.keys.target.key ?? '');
  let allExact = workspaces.length > 0;

  if (inputs.store) {
    if (inputs.cacheBin) core.info('cargo-stash: cache-bin applies to GitHub\'s cache only; the binary caches target dirs');
    const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: keyPrefix(inputs) });
    for (const ws of workspaces) {
      try {
        const out = await native.restore(ws, { lookupOnly: inputs.lookupOnly });
        if (out.key !== ws.keys.target.key) {
          core.warning(`cargo-stash: the binary computed key ${out.key}, the wasm package ${ws.keys.target.key}: versions differ?`);
        }
        state.restored[ws.root] = { target: out.hit === 'exact' ? out.key : out.restored_key ?? null };
        allExact &&= out.hit === 'exact';
        core.info(`cargo-stash: ${out.hit} for ${ws.root}${out.restored_key ? ` (${out.restored_key})` : ''}`);
      } catch (err) {
        allExact = false;
        reportProblem(`restore of ${ws.root} failed`, err);
      }
    }
  } else if (!actionsCache.available()) {
    allExact = false;
    core.warning("cargo-stash: GitHub's cache service is not available to this job; nothing is restored");
  } else {
    const lookupOnly = inputs.lookupOnly;
    for (const ws of workspaces) {
      try {
        const target = await actionsCache.restore(ws.targetDirs, ws.keys.target.key, ws.keys.target.ladder, { lookupOnly });
        state.restored[ws.root] = { target: target ?? null };
        allExact &&= target === ws.keys.target.key;
        if (target && !lookupOnly) {
          for (const dir of ws.targetDirs) if (markUnits(dir)) state.marked.push(dir);
        }
      } catch (err) {
        allExact = false;
        reportProblem(`restore of ${ws.root} failed`, err);
      }
    }
    // One registry layer: the downloaded crates of every workspace share CARGO_HOME.
    const first = workspaces[0];
    if (first) {
      try {
        const paths = registryPaths(first.cargoHome, inputs.cacheBin);
        const reg = await actionsCache.restore(paths, first.keys.registry.key, first.keys.registry.ladder, { lookupOnly });
        state.restored.registry = reg ?? null;
      } catch (err) {
        reportProblem('restore of the registry failed', err);
      }
    }
  }
  core.setOutput('cache-hit', String(allExact));
  state.restoredAt = Date.now();
  saveState(state);
}

run().catch((err) => reportProblem('restore failed', err));
