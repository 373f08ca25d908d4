import { createRequire as __stashCreateRequire } from 'node:module';
import { fileURLToPath as __stashFileURLToPath } from 'node:url';
import { dirname as __stashDirname } from 'node:path';
const require = __stashCreateRequire(import.meta.url);
const __stash_filename = __stashFileURLToPath(import.meta.url);
const __stash_dirname = __stashDirname(__stash_filename);
import {
  actionsCache,
  ensureBinary,
  extraPaths,
  fullPrefix,
  info,
  loadState,
  nativeStore,
  printKeys,
  pruneCrates,
  readInputs,
  recordSources,
  reportProblem,
  sanitize,
  warning,
  workspaceKeys
} from "./chunk-FN3SPCAC.mjs";

// src/save.mjs
function state() {
  const saved = loadState();
  if (saved?.from === "post") return saved.state;
  const inputs = readInputs();
  if (saved) {
    saved.state.inputs.saveIf = inputs.saveIf;
    return saved.state;
  }
  info("cargo-stash: no restore step ran in this job; computing the keys now");
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
  return { mode: inputs.store ? "native" : "actions-cache", inputs, workspaces, restored: {}, marked: [] };
}
async function saveNative({ inputs, workspaces }) {
  try {
    inputs.bin = inputs.bin === null ? null : await ensureBinary(inputs);
  } catch (err) {
    inputs.bin = null;
    reportProblem("the cache is skipped", err);
  }
  if (!inputs.bin) return;
  const native = nativeStore({ bin: inputs.bin, store: inputs.store, inputs, prefix: fullPrefix(inputs) });
  for (const ws of workspaces) {
    try {
      const out = await native.save(ws);
      info(`cargo-stash: ${out.outcome} ${out.key}`);
      for (const w of out.warnings ?? []) warning(`cargo-stash: ${w}`);
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
      info(`cargo-stash: ${key} was an exact hit; not saving it again`);
      continue;
    }
    try {
      const dropPackages = inputs.cacheWorkspaceCrates ? [] : ws.members;
      for (const dir of ws.targetDirs) sanitize(dir, { pruneUnused: st.marked.includes(dir), dropPackages });
      recordSources(ws);
      if (await actionsCache.save(ws.targetDirs, key)) info(`cargo-stash: saved ${key}`);
    } catch (err) {
      reportProblem(`save of ${ws.root} failed`, err);
    }
  }
  const first = workspaces[0];
  if (first && st.restored.registry !== first.keys.registry.key) {
    try {
      if (!inputs.cacheAllCrates) pruneCrates(first.cargoHome, workspaces.map((w) => `${w.root}/Cargo.lock`));
      const paths = extraPaths(first.cargoHome, inputs);
      if (await actionsCache.save(paths, first.keys.registry.key)) info(`cargo-stash: saved ${first.keys.registry.key}`);
    } catch (err) {
      reportProblem("save of the registry failed", err);
    }
  }
}
async function run() {
  const st = state();
  const { inputs } = st;
  if (!inputs.saveIf) {
    info("cargo-stash: not saving (save-if is false)");
    return;
  }
  if (inputs.lookupOnly) {
    info("cargo-stash: not saving (lookup-only)");
    return;
  }
  if (st.mode === "native") return saveNative(st);
  if (!actionsCache.available()) {
    warning("cargo-stash: GitHub's cache service is not available to this job; nothing is saved");
    return;
  }
  return saveActionsCache(st);
}
run().catch((err) => reportProblem("save failed", err));
