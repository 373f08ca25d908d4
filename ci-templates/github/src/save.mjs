// Post step: sanitize the target dirs and save them under the keys the main step
// computed (never recomputed here); an exact hit is not saved again.

import * as core from '@actions/core';
import { keyPrefix, loadState, reportProblem } from './config.mjs';
import { sanitize } from './cleanup.mjs';
import { actionsCache, nativeStore, registryPaths } from './store.mjs';

async function run() {
  const state = loadState();
  if (!state) {
    core.info('cargo-stash: the main step did not run; nothing to save');
    return;
  }
  const { inputs, workspaces } = state;
  if (!inputs.saveIf) {
    core.info('cargo-stash: not saving (save-if is false)');
    return;
  }
  if (inputs.lookupOnly) {
    core.info('cargo-stash: not saving (lookup-only)');
    return;
  }
  if (state.mode === 'native') {
    const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: keyPrefix(inputs) });
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
    return;
  }
  if (!actionsCache.available()) {
    core.warning("cargo-stash: GitHub's cache service is not available to this job; nothing is saved");
    return;
  }
  for (const ws of workspaces) {
    const key = ws.keys.target.key;
    if (state.restored[ws.root]?.target === key) {
      core.info(`cargo-stash: ${key} was an exact hit; not saving it again`);
      continue;
    }
    try {
      for (const dir of ws.targetDirs) sanitize(dir, { pruneUnused: state.marked.includes(dir) });
      if (await actionsCache.save(ws.targetDirs, key)) core.info(`cargo-stash: saved ${key}`);
    } catch (err) {
      reportProblem(`save of ${ws.root} failed`, err);
    }
  }
  const first = workspaces[0];
  if (first && state.restored.registry !== first.keys.registry.key) {
    try {
      const paths = registryPaths(first.cargoHome, inputs.cacheBin);
      if (await actionsCache.save(paths, first.keys.registry.key)) core.info(`cargo-stash: saved ${first.keys.registry.key}`);
    } catch (err) {
      reportProblem('save of the registry failed', err);
    }
  }
}

run().catch((err) => reportProblem('save failed', err));
