import { createRequire as __stashCreateRequire } from 'node:module';
import { fileURLToPath as __stashFileURLToPath } from 'node:url';
import { dirname as __stashDirname } from 'node:path';
const require = __stashCreateRequire(import.meta.url);
const __stash_filename = __stashFileURLToPath(import.meta.url);
const __stash_dirname = __stashDirname(__stash_filename);
import {
  actionsCache,
  info,
  keyPrefix,
  loadState,
  nativeStore,
  registryPaths,
  reportProblem,
  sanitize,
  warning
} from "./chunk-OIX6LHUS.mjs";

// src/save.mjs
async function run() {
  const state = loadState();
  if (!state) {
    info("cargo-stash: the main step did not run; nothing to save");
    return;
  }
  const { inputs, workspaces } = state;
  if (!inputs.saveIf) {
    info("cargo-stash: not saving (save-if is false)");
    return;
  }
  if (inputs.lookupOnly) {
    info("cargo-stash: not saving (lookup-only)");
    return;
  }
  if (state.mode === "native") {
    const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: keyPrefix(inputs) });
    for (const ws of workspaces) {
      try {
        const out = await native.save(ws);
        info(`cargo-stash: ${out.outcome} ${out.key}`);
        for (const w of out.warnings ?? []) warning(`cargo-stash: ${w}`);
      } catch (err) {
        reportProblem(`save of ${ws.root} failed`, err);
      }
    }
    return;
  }
  if (!actionsCache.available()) {
    warning("cargo-stash: GitHub's cache service is not available to this job; nothing is saved");
    return;
  }
  for (const ws of workspaces) {
    const key = ws.keys.target.key;
    if (state.restored[ws.root]?.target === key) {
      info(`cargo-stash: ${key} was an exact hit; not saving it again`);
      continue;
    }
    try {
      for (const dir of ws.targetDirs) sanitize(dir, { pruneUnused: state.marked.includes(dir) });
      if (await actionsCache.save(ws.targetDirs, key)) info(`cargo-stash: saved ${key}`);
    } catch (err) {
      reportProblem(`save of ${ws.root} failed`, err);
    }
  }
  const first = workspaces[0];
  if (first && state.restored.registry !== first.keys.registry.key) {
    try {
      const paths = registryPaths(first.cargoHome, inputs.cacheBin);
      if (await actionsCache.save(paths, first.keys.registry.key)) info(`cargo-stash: saved ${first.keys.registry.key}`);
    } catch (err) {
      reportProblem("save of the registry failed", err);
    }
  }
}
run().catch((err) => reportProblem("save failed", err));
