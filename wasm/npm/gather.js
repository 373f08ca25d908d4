'use strict';
// Gathers key inputs from the filesystem the way `cargo stash key` does, so a JS plugin
// and the native binary hash the same things. Only file reading happens here: parsing
// and filtering are stash-core's (reached through the wasm functions passed in).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

// Node's names to the labels of keys (core's os_label/arch_label for Rust's names).
const OS = { linux: 'linux', darwin: 'macos', win32: 'windows' };
const ARCH = { x64: 'x64', arm64: 'arm64', ia32: 'ia32', ppc64: 'powerpc64', loong64: 'loongarch64' };

function readIfFile(file) {
  try {
    if (!fs.statSync(file).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return fs.readFileSync(file, 'utf8');
}

/** `dir` and each of its ancestors up to the filesystem root, nearest first. */
function ancestors(dir) {
  const out = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

function slash(p) {
  return p.split(path.sep).join('/');
}

function cargoMetadata({ cargo, manifestPath, cwd, env }) {
  const args = ['metadata', '--no-deps', '--format-version', '1'];
  if (manifestPath) args.push('--manifest-path', manifestPath);
  try {
    return execFileSync(cargo, args, {
      cwd,
      env,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const stderr = e.stderr ? String(e.stderr).trim() : e.message;
    throw new Error(`\`${cargo} ${args.join(' ')}\` failed: ${stderr}`);
  }
}

function gatherKeyInputs(options = {}, core) {
  const {
    rustcVersion,
    cwd = process.cwd(),
    manifestPath,
    env = process.env,
    cargo = env.CARGO || 'cargo',
    profile = 'dev',
    prefix = '',
    suffix = '',
    extraEnv = [],
    platform = process.platform,
    arch = process.arch,
  } = options;
  if (typeof rustcVersion !== 'string') {
    throw new TypeError('rustcVersion: expected the output of `rustc -vV` as a string');
  }
  // As `cargo stash key`: no `--target` means CARGO_BUILD_TARGET, else the host.
  let targets = [...(options.targets ?? [])];
  if (targets.length === 0 && env.CARGO_BUILD_TARGET) targets = [env.CARGO_BUILD_TARGET];
  let { metadata } = options;
  if (metadata === undefined) metadata = cargoMetadata({ cargo, manifestPath, cwd, env });
  if (typeof metadata === 'string') metadata = JSON.parse(metadata);
  const root = metadata.workspace_root;
  if (typeof root !== 'string') throw new TypeError('metadata.workspace_root: expected a string');

  const manifests = {};
  const rootManifest = path.join(root, 'Cargo.toml');
  for (const file of [rootManifest, ...(metadata.packages ?? []).map((p) => p.manifest_path)]) {
    // Like the native binary: relative to the root when under it, else absolute.
    const relative = path.relative(root, file);
    const rel = slash(relative.startsWith('..') || path.isAbsolute(relative) ? file : relative);
    if (rel in manifests) continue;
    const textOf = readIfFile(file);
    if (textOf !== undefined) manifests[rel] = textOf;
  }

  const cargoHome = path.resolve(options.cargoHome || env.CARGO_HOME || path.join(env.HOME || os.homedir(), '.cargo'));
  const configFiles = {};
  const dirs = ancestors(root);
  for (const dir of dirs) {
    for (const name of ['config.toml', 'config']) {
      const file = path.join(dir, '.cargo', name);
      const textOf = readIfFile(file);
      if (textOf !== undefined) configFiles[slash(path.relative(root, file))] = textOf;
    }
  }
  for (const name of ['config.toml', 'config']) {
    const textOf = readIfFile(path.join(cargoHome, name));
    if (textOf !== undefined) configFiles[`$CARGO_HOME/${name}`] = textOf;
  }

  let toolchainFile = null;
  search: for (const dir of dirs) {
    for (const name of ['rust-toolchain.toml', 'rust-toolchain']) {
      const textOf = readIfFile(path.join(dir, name));
      if (textOf !== undefined) {
        toolchainFile = textOf;
        break search;
      }
    }
  }

  return {
    schema: 1,
    prefix,
    suffix,
    os: OS[platform] ?? platform,
    arch: ARCH[arch] ?? arch,
    rustc: core.parseRustcVersion(rustcVersion),
    targets,
    profile,
    // Filtered by core right away: the full environment holds credentials and must
    // never end up in inputs a plugin might log or save.
    env: core.artifactEnv(env, extraEnv),
    extra_env: [...extraEnv],
    cargo_home: cargoHome,
    lockfile: readIfFile(path.join(root, 'Cargo.lock')) ?? null,
    manifests,
    config_files: configFiles,
    toolchain_file: toolchainFile,
  };
}

module.exports = { gatherKeyInputs, cargoMetadata };
