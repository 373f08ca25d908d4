// ESM entry: the same module as index.js (Node 20 imports CommonJS natively).
import stash from './index.js';

export const {
  computeKey,
  explain,
  reduceLockfile,
  normalizeManifest,
  parseRustcVersion,
  artifactEnv,
  classify,
  plan,
  usedUnits,
  mtimePlan,
  isFingerprint,
  SENTINEL_ATIME,
  gatherKeyInputs,
  cargoMetadata,
  osLabel,
  archLabel,
  KEY_SCHEMA,
  VERSION,
} = stash;
export default stash;
