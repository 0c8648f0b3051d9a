/**
 * The schema contributed to the editor (scripts/editor-schema.mjs → dist/experiment.editor.schema.json)
 * is for completion and hover only: it never rejects a document — our validator reports each mistake
 * once — yet keeps every property, description and proposed value of schema/experiment.schema.json.
 * Checked with an independent JSON Schema validator (ajv), against the real schema as the control.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import { parse } from 'jsonc-parser';
// @ts-expect-error -- a plain ESM build script without types
import { editorSchema } from '../../scripts/editor-schema.mjs';
import { REPO } from '../helpers/experiments';

type Node = Record<string, unknown>;
const full = JSON.parse(fs.readFileSync(path.join(REPO, 'schema', 'experiment.schema.json'), 'utf8')) as Node;
const editor = (editorSchema as (s: Node) => Node)(full);
const valid = parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'config', 'valid.distill.json'), 'utf8')) as Node;

function compile(s: Node) {
  return new Ajv({ strict: false, allErrors: true }).compile(s);
}

/** Mistakes a user makes: each is an error for the real schema, and none for the editor's. */
const MISTAKES: [string, (c: Node) => void][] = [
  ['a misspelt field', (c) => { c.epoch = 3; }],
  ['a wrong type', (c) => { c.seeds = 'one'; }],
  ['a missing required field', (c) => { delete c.student; }],
  ['an unknown method', (c) => { (c.knowledge as Node[])[0].method = 'kdd'; }],
  ['an out-of-range number', (c) => { (c.knowledge as Node[])[0].temperature = -1; }],
  ['an unknown data format', (c) => { ((c.data as Node).train as Node).format = 'mnits'; }],
];

test('the editor schema accepts what the real schema accepts, and rejects none of the usual mistakes', () => {
  const strict = compile(full);
  const lenient = compile(editor);
  assert.equal(strict(valid), true, JSON.stringify(strict.errors));
  assert.equal(lenient(valid), true);
  for (const [what, mistake] of MISTAKES) {
    const c = structuredClone(valid);
    mistake(c);
    assert.equal(strict(c), false, `control: the real schema rejects ${what}`);
    assert.equal(lenient(c), true, `the editor schema does not report ${what}: ${JSON.stringify(lenient.errors)}`);
  }
});

test('the editor schema keeps every property with its description, every proposed value, and the discriminators', () => {
  const defs = (s: Node) => s.definitions as Record<string, Node>;
  for (const [name, def] of Object.entries(defs(full))) {
    const e = defs(editor)[name];
    assert.ok(e, `definition ${name} kept`);
    assert.equal(e.description, def.description, `${name}: description`);
    for (const [prop, ps] of Object.entries((def.properties ?? {}) as Record<string, Node>)) {
      const eps = (e.properties as Record<string, Node>)[prop];
      assert.ok(eps, `${name}.${prop} kept`);
      assert.equal(eps.description, ps.description, `${name}.${prop}: description`);
      for (const v of (ps.enum ?? []) as unknown[]) assert.ok((eps.examples as unknown[]).includes(v), `${name}.${prop}: ${String(v)} still proposed`);
      if (ps.const !== undefined) assert.equal(eps.const, ps.const, `${name}.${prop}: discriminator kept`);
    }
    if (def.oneOf) assert.equal((e.anyOf as unknown[]).length, (def.oneOf as unknown[]).length + 1, `${name}: every alternative kept`);
  }
  const top = (s: Node) => Object.keys(s.properties as Node).sort();
  assert.deepEqual(top(editor), top(full));
});
