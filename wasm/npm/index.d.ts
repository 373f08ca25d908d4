// Types of @cargo-stash/wasm. The shapes mirror stash-core's serde types (snake_case
// fields, as in `cargo stash key --json`).

/** Everything that decides whether a saved target dir can be reused (schema 1). */
export interface KeyInputs {
  schema: number;
  prefix?: string;
  suffix?: string;
  /** `linux`, `macos`, `windows`, ... */
  os: string;
  /** `x64`, `arm64`, ... */
  arch: string;
  rustc: RustcInfo;
  /** `--target` triples; empty means the host. */
  targets?: string[];
  /** Default `dev`. */
  profile?: string;
  /** Environment; core keeps only the variables that change artifacts. */
  env?: Record<string, string>;
  /** Extra variable names to key on. */
  extra_env?: string[];
  /** Absolute path of CARGO_HOME. */
  cargo_home: string;
  /** Raw Cargo.lock text. */
  lockfile?: string | null;
  /** Workspace-relative path (`/`-separated) -> raw Cargo.toml text; the root one is `Cargo.toml`. */
  manifests?: Record<string, string>;
  /** Label -> raw `.cargo/config.toml` text. */
  config_files?: Record<string, string>;
  /** Raw `rust-toolchain.toml` / `rust-toolchain` text. */
  toolchain_file?: string | null;
}

export interface RustcInfo {
  release: string;
  commit_hash: string;
  host: string;
}

export interface Key {
  key: string;
  /** Prefixes to try, best first, when `key` has no snapshot. */
  ladder: string[];
}

export type Segment = 'prefix' | 'toolchain' | 'config' | 'deps' | 'suffix';

export interface ExplainLine {
  input: string;
  segment: Segment;
  /** The value itself when short, else its size. */
  value: string;
  digest: string;
}

export interface KeySet {
  target: Key;
  registry: Key;
  explain: ExplainLine[];
}

/** One path of a target-dir listing, relative to its root, `/`-separated. */
export interface Entry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  size?: number;
  /** Same value for paths that are hard links of one file (e.g. the inode). */
  link_id?: number | null;
}

export type ClassName = 'unit' | 'uplifted' | 'incremental' | 'dep-file' | 'other' | 'internal';

export interface Classified {
  path: string;
  class: ClassName;
  /** Unit id `<profile dir>/<hash>`, for `unit`. */
  unit?: string;
  /** Package or crate name, for `unit`. */
  name?: string;
}

export interface PlanOptions {
  keep_incremental?: boolean;
  keep_dep_files?: boolean;
  /** When set, units (ids `<profile>/<hash>`) not listed are dropped as unused. */
  used_units?: string[] | null;
  /** Upper bound of a batch of leftover files, in bytes (default 32 MiB). */
  batch_bytes?: number;
}

export interface Group {
  /** Unit id or `batch-<n>`. */
  name: string;
  unit: string | null;
  paths: string[];
  bytes: number;
}

export interface CategoryStats {
  files: number;
  bytes: number;
  kept_files: number;
  kept_bytes: number;
}

export interface Plan {
  groups: Group[];
  /** `[path, target]`: `path` is recreated as a hard link of `target`. */
  links: [string, string][];
  /** Top-most dropped paths: deleting these applies the plan. */
  dropped: string[];
  categories: Partial<Record<'unit' | 'uplifted' | 'incremental' | 'dep-file' | 'other', CategoryStats>>;
  unused_units: string[];
}

export interface GatherOptions {
  /** Output of `rustc -vV` for the toolchain that will build. */
  rustcVersion: string;
  /** Directory `cargo metadata` runs in (default `process.cwd()`). */
  cwd?: string;
  /** `--manifest-path` for `cargo metadata`. */
  manifestPath?: string;
  /** Output of `cargo metadata --no-deps --format-version 1`, to skip running cargo. */
  metadata?: CargoMetadata | string;
  /** Cargo binary (default `$CARGO` or `cargo`). */
  cargo?: string;
  targets?: string[];
  profile?: string;
  prefix?: string;
  suffix?: string;
  /** Extra environment variable names to key on. */
  extraEnv?: string[];
  /** Default `process.env`; only artifact-changing variables are kept. */
  env?: Record<string, string | undefined>;
  /** Default `$CARGO_HOME`, else `$HOME/.cargo`. */
  cargoHome?: string;
  /** Default `process.platform`. */
  platform?: string;
  /** Default `process.arch`. */
  arch?: string;
}

export interface CargoMetadata {
  workspace_root: string;
  target_directory?: string;
  packages: { name: string; manifest_path: string }[];
  [other: string]: unknown;
}

export function computeKey(inputs: KeyInputs): KeySet;
export function explain(inputs: KeyInputs): ExplainLine[];
export function reduceLockfile(lockfile: string): string;
export function normalizeManifest(path: string, manifest: string): string;
export function parseRustcVersion(output: string): RustcInfo;
/** Only the variables that change artifacts, plus `extraEnv`. */
export function artifactEnv(env: Record<string, string | undefined>, extraEnv?: string[]): Record<string, string>;
export function classify(entries: Entry[]): Classified[];
export function plan(entries: Entry[], options?: PlanOptions): Plan;
/** Units this job used (`used_units` of a plan), from the fingerprint files whose atime
 *  moved off `SENTINEL_ATIME` since the restore; `null` when none moved (keep all). */
export function usedUnits(entries: Entry[], touched: string[]): string[] | null;
/** One tracked file of a checkout (stash-core `SourceEntry`). */
export interface SourceEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  /** sha256 hex of the content (file) or the link target (symlink). */
  hash: string;
  mtime_s: number;
  mtime_ns: number;
}
export interface MtimePlan {
  /** `[path, mtime_s, mtime_ns]`: content proven equal, give back the saved mtime. */
  restore: [string, number, number][];
  /** Changed or new: stamp newer than every restored artifact. */
  touch: string[];
  restored: number;
  touched: number;
}
/** Content-gated mtime restore: only an entry with the same kind, size and hash as the
 *  saved one gets its saved mtime back. */
export function mtimePlan(saved: SourceEntry[], current: SourceEntry[]): MtimePlan;
/** Whether a target-dir path is a fingerprint file (what a restore marks). */
export function isFingerprint(path: string): boolean;
/** The atime, in seconds since the epoch, a restore gives fingerprint files. */
export const SENTINEL_ATIME: number;
/** Key inputs read from the workspace the way `cargo stash key` reads them. */
export function gatherKeyInputs(options: GatherOptions): KeyInputs;
/** Runs `cargo metadata --no-deps --format-version 1`. */
export function cargoMetadata(options?: { cargo?: string; manifestPath?: string; cwd?: string; env?: Record<string, string | undefined> }): CargoMetadata;
/** Rust `target_os` -> key label. */
export function osLabel(targetOs: string): string;
/** Rust `target_arch` -> key label (`x86_64` -> `x64`). */
export function archLabel(targetArch: string): string;
/** Schema of `KeyInputs` this build understands. */
export const KEY_SCHEMA: number;
/** Version of stash-core this module was built from. */
export const VERSION: string;

declare const stash: {
  computeKey: typeof computeKey;
  explain: typeof explain;
  reduceLockfile: typeof reduceLockfile;
  normalizeManifest: typeof normalizeManifest;
  parseRustcVersion: typeof parseRustcVersion;
  artifactEnv: typeof artifactEnv;
  classify: typeof classify;
  plan: typeof plan;
  usedUnits: typeof usedUnits;
  mtimePlan: typeof mtimePlan;
  isFingerprint: typeof isFingerprint;
  SENTINEL_ATIME: number;
  gatherKeyInputs: typeof gatherKeyInputs;
  cargoMetadata: typeof cargoMetadata;
  osLabel: typeof osLabel;
  archLabel: typeof archLabel;
  KEY_SCHEMA: number;
  VERSION: string;
};
export default stash;
