// Sanitizing a target dir before it is saved with GitHub's cache: the listing is read
// here, the decisions (what is a unit, what is dropped) are stash-core's `plan`.
//
// Unused units are found with atimes, like the native binary: after a restore every
// fingerprint hash file gets an old sentinel atime; Cargo reads the fingerprint of every
// unit it considers, so at save a unit whose files still carry the sentinel was not used
// by this job and is pruned. A probe checks that the filesystem updates atimes first.

import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { stash } from './config.mjs';

// 1970-01-02: far below any real atime, and below mtime so relatime updates it on read.
const SENTINEL_S = 86400;

/** Every path under `root` as stash-core `Entry`s (relative, `/`-separated). */
export function listing(root) {
  const out = [];
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
  return out;
}

/** Fingerprint hash files of units: read by Cargo on every freshness check. Their mtimes
 *  are not compared by Cargo (dep-info and invoked.timestamp are), so touching their
 *  atime is safe. */
function fingerprintFiles(root, entries) {
  const files = [];
  for (const c of stash.classify(entries)) {
    if (c.class !== 'unit') continue;
    const parts = c.path.split('/');
    const name = parts[parts.length - 1];
    const inFingerprint = parts.includes('.fingerprint') || parts[parts.length - 2] === 'fingerprint';
    if (!inFingerprint || name.startsWith('dep-') || name === 'invoked.timestamp') continue;
    const st = fs.lstatSync(path.join(root, c.path), { throwIfNoEntry: false });
    if (st?.isFile()) files.push({ path: c.path, unit: c.unit, mtime: st.mtime });
  }
  return files;
}

/** Whether reading a file updates its atime here (not so with `noatime`). */
function atimeWorks(dir) {
  const probe = path.join(dir, `.cargo-stash-atime-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'probe');
    const { mtime } = fs.statSync(probe);
    fs.utimesSync(probe, SENTINEL_S, mtime);
    fs.readFileSync(probe);
    return fs.statSync(probe).atimeMs > (SENTINEL_S + 1) * 1000;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

/** After a restore: mark every restored unit as unused until Cargo reads it. */
export function markUnits(root) {
  if (!fs.existsSync(root) || !atimeWorks(root)) return false;
  for (const f of fingerprintFiles(root, listing(root))) {
    fs.utimesSync(path.join(root, f.path), SENTINEL_S, f.mtime);
  }
  return true;
}

/** Before a save: apply stash-core's plan, pruning units this job did not use. */
export function sanitize(root, { pruneUnused }) {
  if (!fs.existsSync(root)) return undefined;
  const entries = listing(root);
  const options = {};
  if (pruneUnused) {
    const units = new Set();
    const read = new Set();
    const marked = new Set();
    for (const f of fingerprintFiles(root, entries)) {
      units.add(f.unit);
      const { atimeMs } = fs.statSync(path.join(root, f.path));
      if (atimeMs > (SENTINEL_S + 1) * 1000) read.add(f.unit);
      else marked.add(f.unit);
    }
    // A unit without marked files (built by this job) counts as used.
    options.used_units = [...units].filter((u) => read.has(u) || !marked.has(u));
  }
  const plan = stash.plan(entries, options);
  for (const p of plan.dropped) fs.rmSync(path.join(root, p), { recursive: true, force: true });
  const dropped = Object.values(plan.categories).reduce((n, c) => n + (c.bytes - c.kept_bytes), 0);
  core.info(
    `cargo-stash: sanitized ${root}: removed ${plan.dropped.length} paths (${dropped} bytes), ` +
      `${plan.unused_units.length} unused units`,
  );
  return plan;
}
