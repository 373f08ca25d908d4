// The two storages behind the same three calls: GitHub's cache service through
// @actions/cache, or any cargo-stash store through the native binary.

import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { execFile } from 'node:child_process';
import path from 'node:path';

/** `$CARGO_HOME` parts of the registry layer. */
export function registryPaths(cargoHome, cacheBin) {
  const paths = ['registry/index', 'registry/cache', 'git/db'];
  if (cacheBin) paths.push('bin', '.crates.toml', '.crates2.json');
  return paths.map((p) => path.join(cargoHome, p));
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
