import { createRequire as __stashCreateRequire } from 'node:module';
import { fileURLToPath as __stashFileURLToPath } from 'node:url';
import { dirname as __stashDirname } from 'node:path';
const require = __stashCreateRequire(import.meta.url);
const __stash_filename = __stashFileURLToPath(import.meta.url);
const __stash_dirname = __stashDirname(__stash_filename);
import {
  actionsCache,
  debug,
  ensureBinary,
  exportVariable,
  extraPaths,
  fullPrefix,
  getInput,
  info,
  markUnits,
  nativeStore,
  printKeys,
  readInputs,
  reportProblem,
  restoreMtimes,
  saveState,
  setFailed,
  setOutput,
  warning,
  workspaceKeys
} from "./chunk-FN3SPCAC.mjs";

// src/restore.mjs
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
async function restoreNative(inputs, workspaces, state) {
  for (const flag of ["cache-bin", "cache-directories", "cache-all-crates", "cache-workspace-crates"]) {
    if (getInput(flag)) debug(`cargo-stash: ${flag} applies to GitHub's cache only`);
  }
  try {
    inputs.bin = await ensureBinary(inputs);
  } catch (err) {
    for (const ws of workspaces) state.restored[ws.root] = { target: null };
    inputs.bin = null;
    reportProblem("the cache is skipped", err);
    return;
  }
  const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: fullPrefix(inputs) });
  for (const ws of workspaces) {
    try {
      const out = await native.restore(ws, { lookupOnly: inputs.lookupOnly });
      if (out.key !== ws.keys.target.key) {
        warning(`cargo-stash: the binary computed key ${out.key}, the wasm package ${ws.keys.target.key}: versions differ?`);
      }
      state.restored[ws.root] = { target: out.hit === "miss" ? null : out.hit === "exact" ? out.key : out.restored_key ?? null };
      info(`cargo-stash: ${out.hit} for ${ws.root}${out.restored_key ? ` (${out.restored_key})` : ""}`);
    } catch (err) {
      state.restored[ws.root] = { target: null };
      reportProblem(`restore of ${ws.root} failed`, err);
    }
  }
}
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
  const first = workspaces[0];
  if (first) {
    try {
      const paths = extraPaths(first.cargoHome, inputs);
      const reg = await actionsCache.restore(paths, first.keys.registry.key, first.keys.registry.ladder, { lookupOnly });
      state.restored.registry = reg ?? null;
    } catch (err) {
      reportProblem("restore of the registry failed", err);
    }
  }
}
async function run() {
  const inputs = readInputs();
  exportVariable("CACHE_ON_FAILURE", String(inputs.cacheOnFailure));
  const workspaces = computeWorkspaces(inputs);
  const state = { mode: inputs.store ? "native" : "actions-cache", inputs, workspaces, restored: {}, marked: [] };
  const primary = workspaces[0]?.keys.target.key ?? "";
  setOutput("cache-primary-key", primary);
  setOutput("key", primary);
  if (inputs.store) {
    await restoreNative(inputs, workspaces, state);
  } else if (!actionsCache.available()) {
    warning("cargo-stash: GitHub's cache service is not available to this job; nothing is restored");
  } else {
    await restoreActionsCache(inputs, workspaces, state);
  }
  const matched = inputs.cacheTargets || inputs.store ? workspaces.map((w) => state.restored[w.root]?.target ?? null) : [state.restored.registry ?? null];
  const wanted = inputs.cacheTargets || inputs.store ? workspaces.map((w) => w.keys.target.key) : [workspaces[0]?.keys.registry.key];
  const exact = workspaces.length > 0 && matched.every((m, i) => m === wanted[i]);
  setOutput("cache-hit", String(exact));
  setOutput("cache-matched-key", matched[0] ?? "");
  state.restoredAt = Date.now();
  saveState(state);
  if (inputs.failOnCacheMiss && !matched.some(Boolean)) {
    setFailed(`cargo-stash: no cache entry for ${primary || "this job"} and fail-on-cache-miss is true`);
  }
}
run().catch((err) => reportProblem("restore failed", err));
