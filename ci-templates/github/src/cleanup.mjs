// Sanitizing what is saved with GitHub's cache: the listing is read here, every decision
// (what is a unit, what is dropped, which units this job used) is stash-core's, through
// the wasm package, so the action and the native binary agree.
//
// Unused units are found with atimes, as the binary does: after a restore every
// fingerprint file gets core's sentinel atime; Cargo reads the fingerprints of every unit
// it considers, so at save a unit whose files all kept the sentinel went unused, and is
// pruned, unless no fingerprint was read at all (no build ran: nothing is proven unused).
// A probe checks that the filesystem updates atimes first.

import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { stash } from './config.mjs';

const SENTINEL_S = stash.SENTINEL_ATIME;

/** Every path under `root` as stash-core `Entry`s (relative, `/`-separated), and the
 *  newest mtime (ms) among them. */
export function listing(root) {
  const out = [];
  let newest = 0;
  const walk = (dir, rel) => {
    let names;
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = fs.lstatSync(abs);
      } catch {
        continue;
      }
      newest = Math.max(newest, st.mtimeMs);
      if (st.isSymbolicLink()) {
        out.push({ path: relPath, kind: 'symlink', size: 0 });
      } else if (st.isDirectory()) {
        out.push({ path: relPath, kind: 'dir', size: 0 });
        walk(abs, relPath);
      } else if (st.isFile()) {
        const e = { path: relPath, kind: 'file', size: st.size };
        if (st.nlink > 1) e.link_id = st.ino;
        out.push(e);
      }
    }
  };
  walk(root, '');
  out.newest = newest;
  return out;
}

function fingerprintFiles(entries) {
  return entries.filter((e) => e.kind === 'file' && stash.isFingerprint(e.path)).map((e) => e.path);
}

/** Whether reading a file updates its atime here (not so with `noatime`). */
function atimeWorks(dir) {
  const probe = path.join(dir, `.cargo-stash-atime-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'probe');
    const { mtime } = fs.statSync(probe);
    fs.utimesSync(probe, SENTINEL_S, mtime);
    fs.readFileSync(probe);
    return fs.statSync(probe).atimeMs !== SENTINEL_S * 1000;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

/** After a restore: mark every restored fingerprint as unread. Returns the listing's
 *  newest mtime (ms) and whether units were marked. */
export function markUnits(root) {
  if (!fs.existsSync(root)) return { marked: false, newest: 0 };
  const entries = listing(root);
  if (!atimeWorks(root)) return { marked: false, newest: entries.newest };
  for (const p of fingerprintFiles(entries)) {
    const abs = path.join(root, p);
    fs.utimesSync(abs, SENTINEL_S, fs.statSync(abs).mtime);
  }
  return { marked: true, newest: entries.newest };
}

/** The units core says this job used; `undefined` to keep every unit. */
function usedUnits(root, entries) {
  const touched = fingerprintFiles(entries).filter((p) => fs.statSync(path.join(root, p)).atimeMs !== SENTINEL_S * 1000);
  const used = stash.usedUnits(entries, touched);
  if (used === null) core.info(`cargo-stash: no unit of ${root} was built or read since the restore: every unit kept`);
  return used ?? undefined;
}

/** Before a save: apply stash-core's plan. `pruneUnused` when the restore marked units;
 *  `dropPackages`: package names whose units are not saved (workspace members, unless
 *  cache-workspace-crates). */
export function sanitize(root, { pruneUnused, dropPackages = [] }) {
  if (!fs.existsSync(root)) return undefined;
  const entries = listing(root);
  let used = pruneUnused ? usedUnits(root, entries) : undefined;
  if (dropPackages.length) {
    const drop = new Set(dropPackages);
    const units = stash.plan(entries, {}).groups.filter((g) => g.unit);
    const keep = units.filter((g) => !drop.has(g.unit)).map((g) => g.name);
    used = used ? keep.filter((u) => used.includes(u)) : keep;
  }
  const plan = stash.plan(entries, used ? { used_units: used } : {});
  for (const p of plan.dropped) fs.rmSync(path.join(root, p), { recursive: true, force: true });
  const dropped = Object.values(plan.categories).reduce((n, c) => n + (c.bytes - c.kept_bytes), 0);
  core.info(
    `cargo-stash: sanitized ${root}: removed ${plan.dropped.length} paths (${dropped} bytes), ` +
      `${plan.unused_units.length} units left out`,
  );
  return plan;
}

/** cache-all-crates false (rust-cache): downloaded `.crate` files that no workspace's
 *  Cargo.lock names are not saved. */
export function pruneCrates(cargoHome, lockfiles) {
  const wanted = new Set();
  for (const file of lockfiles) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of stash.reduceLockfile(text).split('\n')) {
      const [name, version] = line.split(' ');
      if (name && version) wanted.add(`${name}-${version}.crate`);
    }
  }
  const cacheDir = path.join(cargoHome, 'registry/cache');
  let removed = 0;
  for (const registry of fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []) {
    const dir = path.join(cacheDir, registry);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) {
      if (f.endsWith('.crate') && !wanted.has(f)) {
        fs.rmSync(path.join(dir, f), { force: true });
        removed++;
      }
    }
  }
  if (removed) core.info(`cargo-stash: ${removed} downloaded crates no Cargo.lock uses are not saved (cache-all-crates: false)`);
}
