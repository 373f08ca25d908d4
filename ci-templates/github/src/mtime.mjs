// Content-gated mtime restore with GitHub's cache, as the binary does with a store
// (docs/format.md): a fresh checkout gives every file a new mtime, so Cargo would rebuild
// every workspace crate. The save records each tracked file's size, sha256 and mtime in
// the target dir; the restore gives a file its saved mtime back only when stash-core's
// plan proves its content unchanged, and stamps every other file newer than every
// restored artifact. Only at the path the record was made at: artifacts of workspace
// crates embed the checkout path. Git metadata is left alone (the binary handles it).

import * as core from '@actions/core';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { stash } from './config.mjs';

/** Where the record lives: inside the target dir, so it travels with it. */
const RECORD = '.cargo-stash/action-sources.json';

/** The checkout root: git's top level, else the workspace root. */
function checkoutRoot(workspaceRoot) {
  try {
    return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: workspaceRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Tracked files as stash-core `SourceEntry`s; files under `skip` dirs left out. */
function scan(root, skip) {
  const out = execFileSync('git', ['ls-files', '-z', '--cached'], { cwd: root, maxBuffer: 1 << 28 });
  const entries = [];
  for (const rel of out.toString('utf8').split('\0')) {
    if (!rel) continue;
    const abs = path.join(root, rel);
    if (skip.some((s) => abs === s || abs.startsWith(s + path.sep))) continue;
    let st;
    try {
      st = fs.lstatSync(abs, { bigint: true });
    } catch {
      continue; // deleted in the work tree
    }
    let kind;
    let hash;
    if (st.isSymbolicLink()) {
      kind = 'symlink';
      hash = crypto.createHash('sha256').update(fs.readlinkSync(abs)).digest('hex');
    } else if (st.isFile()) {
      kind = 'file';
      hash = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    } else {
      continue;
    }
    if (st.mtimeNs < 0n) continue; // before 1970: never restored, so touched
    entries.push({
      path: rel,
      kind,
      size: Number(st.size),
      hash,
      mtime_s: Number(st.mtimeNs / 1000000000n),
      mtime_ns: Number(st.mtimeNs % 1000000000n),
    });
  }
  return entries;
}

/** At save, after sanitizing: record the checkout into the first target dir. */
export function recordSources(ws) {
  const root = checkoutRoot(ws.root);
  if (!root) return;
  const file = path.join(ws.targetDirs[0], RECORD);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ root, entries: scan(root, ws.targetDirs) }));
}

/** At restore, after the target dir is back. `newestMs`: the newest mtime among the
 *  restored files, which every touched source must exceed, whatever the clock of the
 *  machine that saved them said. */
export function restoreMtimes(ws, newestMs) {
  const file = path.join(ws.targetDirs[0], RECORD);
  let saved;
  try {
    saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const root = checkoutRoot(ws.root);
  if (!root || root !== saved.root) {
    core.info(`cargo-stash: the checkout is at ${root} but was saved at ${saved.root}: workspace crates will rebuild`);
    return undefined;
  }
  const plan = stash.mtimePlan(saved.entries, scan(root, ws.targetDirs));
  const touch = new Date(Math.max(Date.now(), Math.ceil(newestMs) + 1000));
  for (const [rel, s, ns] of plan.restore) {
    // utimes takes seconds as a number: whole seconds plus the nanoseconds as a fraction
    // keeps microsecond precision, which is what Cargo's comparison of mtimes needs.
    fs.lutimesSync(path.join(root, rel), new Date(), s + ns / 1e9);
  }
  for (const rel of plan.touch) fs.lutimesSync(path.join(root, rel), touch, touch);
  core.info(`cargo-stash: mtimes of ${root}: ${plan.restored} restored, ${plan.touched} touched`);
  return plan;
}
