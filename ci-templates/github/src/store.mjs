// The two storages behind the same three calls: GitHub's cache service through
// @actions/cache, or any cargo-stash store through the native binary.

import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/** The registry layer: `$CARGO_HOME` parts (bin with cache-bin, as rust-cache), plus
 *  cache-directories. */
export function extraPaths(cargoHome, { cacheBin, cacheDirectories = [] }) {
  const parts = ['registry/index', 'registry/cache', 'git/db'];
  if (cacheBin) parts.push('bin', '.crates.toml', '.crates2.json');
  return [...parts.map((p) => path.join(cargoHome, p)), ...cacheDirectories.map((d) => path.resolve(d))];
}

export const actionsCache = {
  name: "GitHub's cache",
  available() {
    return cache.isFeatureAvailable();
  },
  /** Returns the matched key, or undefined on a miss. */
  async restore(paths, key, ladder, { lookupOnly }) {
    const rest = ladder.filter((k) => k !== key);
    return cache.restoreCache(paths, key, rest, { lookupOnly });
  },
  async save(paths, key) {
    const id = await cache.saveCache(paths, key);
    return id !== -1;
  },
};

function run(bin, args, env) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (stderr) core.info(stderr.trimEnd());
      // `--json` prints its document even when the command reports a cache problem.
      if (stdout.trim()) {
        try {
          return resolve(JSON.parse(stdout));
        } catch {
          // fall through
        }
      }
      reject(err ?? new Error(`\`${bin} ${args.join(' ')}\` printed no JSON`));
    });
  });
}

/** The version `bin --version` reports if it is cargo-stash; `null` when it runs but is
 *  something else; `undefined` when it cannot run (not installed). */
function versionOf(bin) {
  return new Promise((resolve) => {
    execFile(bin, ['--version'], (err, stdout) => {
      if (err) return resolve(err.code === 'ENOENT' || err.code === 'EACCES' ? undefined : null);
      const m = stdout.trim().match(/^cargo-stash (\d\S*)$/);
      resolve(m ? m[1] : null);
    });
  });
}

/** The binary for `store:`: `bin` when it is there, else the pinned release, installed
 *  with exactly `cargo install cargo-stash --version =<version> --locked`. Whatever runs
 *  must say it is cargo-stash. Returns its path; throws when there is none. */
export async function ensureBinary(inputs, env = process.env) {
  let bin = inputs.bin;
  let version = await versionOf(bin);
  if (version === undefined && inputs.install) {
    const args = ['install', 'cargo-stash', '--version', `=${inputs.version}`, '--locked', '--force'];
    core.info(`cargo-stash: ${bin} not found; cargo ${args.join(' ')}`);
    await new Promise((resolve, reject) =>
      execFile('cargo', args, { env, maxBuffer: 1 << 26 }, (err, _out, stderr) => (err ? reject(new Error(`cargo install failed: ${stderr.trim().split('\n').pop()}`)) : resolve())),
    );
    bin = path.join(env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'bin', 'cargo-stash');
    version = await versionOf(bin);
  }
  if (version === undefined) throw new Error(`no cargo-stash binary: ${bin} was not found (set bin, or allow install)`);
  if (version === null) throw new Error(`${bin} is not cargo-stash: \`${bin} --version\` did not print 'cargo-stash <version>'`);
  if (version !== inputs.version) core.warning(`cargo-stash: ${bin} is cargo-stash ${version}, this action pins ${inputs.version}`);
  return bin;
}

/** The cargo-stash binary, given the same key settings the wasm key was computed with. */
export function nativeStore({ bin, store, inputs, prefix }) {
  const keyArgs = ['--prefix', prefix, '--profile', inputs.profile];
  for (const t of inputs.targets) keyArgs.push('--target', t);
  for (const v of inputs.envVars) keyArgs.push('--env-var', v);
  const common = (ws) => ['--json', '--store', store, '--manifest-path', ws.manifestPath];
  return {
    name: `cargo-stash store ${store}`,
    async restore(ws, { lookupOnly }) {
      if (lookupOnly) {
        const out = await run(bin, ['ls', '--json', '--store', store], process.env);
        const keys = (out.snapshots ?? []).filter((s) => s.layer === 'target').map((s) => s.key);
        const ladder = ws.keys.target.ladder;
        const hit = keys.includes(ladder[0]) ? ladder[0] : ladder.slice(1).map((r) => keys.find((k) => k.startsWith(r))).find(Boolean);
        return { key: ws.keys.target.key, hit: hit === ladder[0] ? 'exact' : hit ? 'fallback' : 'miss', restored_key: hit ?? null };
      }
      return run(bin, ['restore', ...common(ws), ...keyArgs], process.env);
    },
    async save(ws) {
      return run(bin, ['save', ...common(ws), ...keyArgs], process.env);
    },
  };
}
