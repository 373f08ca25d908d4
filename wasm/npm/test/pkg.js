'use strict';
// Where the built package is: wasm/pkg/ (scripts/wasm-build.sh), or $STASH_WASM_PKG.
const path = require('node:path');
const fs = require('node:fs');

const dir = path.resolve(process.env.STASH_WASM_PKG || path.join(__dirname, '..', '..', 'pkg'));
if (!fs.existsSync(path.join(dir, 'stash_wasm_bg.wasm'))) {
  throw new Error(`no built wasm package in ${dir}: run scripts/wasm-build.sh first`);
}
const repo = path.resolve(__dirname, '..', '..', '..');

module.exports = { dir, repo, stash: require(dir) };
