'use strict';
// The golden vectors of stash-core (core/tests/golden/*.json), the very files
// `cargo test -p stash-core --test golden` checks: every vector must give the same key and
// the same sanitization plan in the wasm package as in Rust.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { stash, repo } = require('./pkg.js');

function cases(name) {
  const file = path.join(repo, 'core', 'tests', 'golden', name);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(doc.cases.length > 0, `${file} has no cases`);
  return doc.cases;
}

test('key vectors', async (t) => {
  for (const c of cases('keys.json')) {
    await t.test(c.name, () => {
      if ('error' in c.expected) {
        assert.throws(() => stash.computeKey(c.inputs), (e) => {
          assert.ok(e instanceof Error, 'throws an Error');
          assert.equal(e.message, c.expected.error);
          return true;
        });
      } else {
        const got = stash.computeKey(c.inputs);
        assert.deepEqual({ target: got.target, registry: got.registry }, c.expected);
        assert.deepEqual(stash.explain(c.inputs), got.explain);
      }
    });
  }
});

test('plan vectors', async (t) => {
  for (const c of cases('plans.json')) {
    await t.test(c.name, () => {
      const p = stash.plan(c.entries, c.options);
      assert.deepEqual(
        { groups: p.groups, links: p.links, dropped: p.dropped, unused_units: p.unused_units },
        c.expected,
      );
      // classify agrees with the plan: every grouped unit path is a unit of that id.
      const classes = new Map(stash.classify(c.entries).map((x) => [x.path, x]));
      for (const g of p.groups.filter((g) => g.unit !== null)) {
        for (const p2 of g.paths) assert.equal(classes.get(p2).unit, g.name, p2);
      }
    });
  }
});
