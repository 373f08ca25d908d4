// Runs the action's entry points the way the GitHub runner does: inputs as INPUT_*
// variables, file commands in GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV, the main step's
// state handed to the post step as STATE_* variables, exported variables to later steps.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const actionDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Parses `name=value` lines and `name<<DELIM ... DELIM` blocks of a file command. */
export function parseFileCommand(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = line.match(/^([^=<]+)<<(.+)$/);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

/** One job: its environment, the action's inputs, and the state between steps. */
export class Job {
  constructor({ dir, cwd, env, inputs }) {
    this.dir = dir;
    this.cwd = cwd;
    this.env = { ...env };
    this.inputs = inputs;
    this.state = {};
    this.outputs = {};
    this.logs = [];
    fs.mkdirSync(dir, { recursive: true });
  }

  stepEnv(step, withState) {
    const files = {};
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV']) {
      files[name] = path.join(this.dir, `${step}-${name.toLowerCase()}`);
      fs.writeFileSync(files[name], '');
    }
    const env = { ...this.env, ...files };
    for (const [k, v] of Object.entries(this.inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
    if (withState) for (const [k, v] of Object.entries(this.state)) env[`STATE_${k}`] = v;
    return { env, files };
  }

  /** Runs `dist/<entry>.mjs` under node; resolves with { code, stdout }. A post step
   *  sees its main step's state; a main step (`save/` too) does not. */
  async run(step, entry, { post = false } = {}) {
    const { env, files } = this.stepEnv(step, post);
    const { code, stdout } = await new Promise((resolve) => {
      execFile(process.execPath, [path.join(actionDir, 'dist', `${entry}.mjs`)], { cwd: this.cwd, env, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code ?? 1 : 0, stdout: stdout + stderr }),
      );
    });
    this.logs.push(`--- ${step} (${entry}) exit ${code}\n${stdout}`);
    Object.assign(this.outputs, parseFileCommand(files.GITHUB_OUTPUT));
    if (entry === 'restore') this.state = parseFileCommand(files.GITHUB_STATE);
    Object.assign(this.env, parseFileCommand(files.GITHUB_ENV));
    return { code, stdout };
  }

  main() {
    return this.run('main', 'restore');
  }

  post() {
    return this.run('post', 'save', { post: true });
  }

  /** A `save/` step: the save entry as a main step, later in the same job. */
  saveStep(inputs = this.inputs) {
    const own = this.inputs;
    this.inputs = inputs;
    return this.run('save-step', 'save').finally(() => {
      this.inputs = own;
    });
  }

  log() {
    return this.logs.join('\n');
  }
}
