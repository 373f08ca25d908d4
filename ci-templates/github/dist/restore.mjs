import { createRequire as __stashCreateRequire } from 'node:module';
import { fileURLToPath as __stashFileURLToPath } from 'node:url';
import { dirname as __stashDirname } from 'node:path';
const require = __stashCreateRequire(import.meta.url);
const __stash_filename = __stashFileURLToPath(import.meta.url);
const __stash_dirname = __stashDirname(__stash_filename);
import {
  actionsCache,
  exportVariable,
  info,
  keyPrefix,
  markUnits,
  nativeStore,
  printKeys,
  readInputs,
  registryPaths,
  reportProblem,
  saveState,
  setOutput,
  warning,
  workspaceKeys
} from "./chunk-OIX6LHUS.mjs";

// src/restore.mjs
async function run() {
  const inputs = readInputs();
  exportVariable("CACHE_ON_FAILURE", String(inputs.cacheOnFailure));
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
  const state = { mode: inputs.store ? "native" : "actions-cache", inputs, workspaces, restored: {}, marked: [] };
  setOutput("key", workspaces[0]?.keys.target.key ?? "");
  let allExact = workspaces.length > 0;
  if (inputs.store) {
    if (inputs.cacheBin) info("cargo-stash: cache-bin applies to GitHub's cache only; the binary caches target dirs");
    const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: keyPrefix(inputs) });
    for (const ws of workspaces) {
      try {
        const out = await native.restore(ws, { lookupOnly: inputs.lookupOnly });
        if (out.key !== ws.keys.target.key) {
          warning(`cargo-stash: the binary computed key ${out.key}, the wasm package ${ws.keys.target.key}: versions differ?`);
        }
        state.restored[ws.root] = { target: out.hit === "exact" ? out.key : out.restored_key ?? null };
        allExact &&= out.hit === "exact";
        info(`cargo-stash: ${out.hit} for ${ws.root}${out.restored_key ? ` (${out.restored_key})` : ""}`);
      } catch (err) {
        allExact = false;
        reportProblem(`restore of ${ws.root} failed`, err);
      }
    }
  } else if (!actionsCache.available()) {
    allExact = false;
    warning("cargo-stash: GitHub's cache service is not available to this job; nothing is restored");
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
    const first = workspaces[0];
    if (first) {
      try {
        const paths = registryPaths(first.cargoHome, inputs.cacheBin);
        const reg = await actionsCache.restore(paths, first.keys.registry.key, first.keys.registry.ladder, { lookupOnly });
        state.restored.registry = reg ?? null;
      } catch (err) {
        reportProblem("restore of the registry failed", err);
      }
    }
  }
  setOutput("cache-hit", String(allExact));
  state.restoredAt = Date.now();
  saveState(state);
}
run().catch((err) => reportProblem("restore failed", err));
