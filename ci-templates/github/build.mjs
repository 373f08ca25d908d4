// Bundles the action into dist/ so it runs without `npm install` at use time:
// dist/restore.mjs (main, and restore/), dist/save.mjs (post, and save/) and the wasm
// module they load. The output depends only on the sources, the locked npm packages and
// the wasm package (no timestamps, no absolute paths), so CI can rebuild it and fail
// when the committed dist/ differs (scripts/wasm-test.sh).
// Needs the wasm package built first (scripts/wasm-build.sh).

import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasm = path.resolve(here, '../../wasm/pkg/stash_wasm_bg.wasm');
if (!fs.existsSync(wasm)) {
  console.error(`error: ${wasm} is missing; run scripts/wasm-build.sh first`);
  process.exit(1);
}
const dist = path.join(here, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);

// The bundled CommonJS parts (the wasm glue, @azure/*) use require and __dirname.
const banner = [
  "import { createRequire as __stashCreateRequire } from 'node:module';",
  "import { fileURLToPath as __stashFileURLToPath } from 'node:url';",
  "import { dirname as __stashDirname } from 'node:path';",
  'const require = __stashCreateRequire(import.meta.url);',
  'const __stash_filename = __stashFileURLToPath(import.meta.url);',
  'const __stash_dirname = __stashDirname(__stash_filename);',
].join('\n');

await esbuild.build({
  entryPoints: { restore: path.join(here, 'src/restore.mjs'), save: path.join(here, 'src/save.mjs') },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // restore and save share one chunk; kept next to them so the wasm glue's __dirname
  // (the chunk's directory) is dist/, where the .wasm is copied.
  splitting: true,
  chunkNames: '[name]-[hash]',
  banner: { js: banner },
  // Free uses only: modules that declare their own keep them.
  define: { __dirname: '__stash_dirname', __filename: '__stash_filename' },
  legalComments: 'linked',
  logLevel: 'warning',
});
fs.copyFileSync(wasm, path.join(dist, 'stash_wasm_bg.wasm'));
// The tools that made the .wasm (scripts/wasm-build.sh): a bundle is reproduced byte for
// byte from the same sources with the same tools.
fs.copyFileSync(path.join(path.dirname(wasm), 'BUILD'), path.join(dist, 'wasm-toolchain.txt'));
for (const f of fs.readdirSync(dist)) {
  console.log(`dist/${f.padEnd(28)} ${fs.statSync(path.join(dist, f)).size} bytes`);
}
