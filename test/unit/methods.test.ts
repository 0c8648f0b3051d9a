/**
 * The method catalogue (src/methods/catalogue.ts) is the one list of methods: the JSON Schema the
 * editor validates with, the engine's registry of pair losses, the pairing panel's methods and the
 * pairing edit must all agree with it. A method added to one side only fails here, naming it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PAIR_LOSSES, PAIR_TERMS } from '../../src/engine/knowledge/terms';
import { addPairEdit } from '../../src/host/panels/pairEdit';
import { METHOD_INFO, PAIR_METHODS } from '../../src/methods/catalogue';
import { parseWebviewMessage } from '../../src/protocol/webviews';
import { REPO } from '../helpers/experiments';

interface SchemaNode { $ref?: string; const?: unknown; oneOf?: SchemaNode[]; properties?: Record<string, SchemaNode>; required?: string[] }

function schema(): { definitions: Record<string, SchemaNode> } {
  return JSON.parse(fs.readFileSync(path.join(REPO, 'schema', 'experiment.schema.json'), 'utf8')) as { definitions: Record<string, SchemaNode> };
}

/** Follows `#/definitions/x` references. */
function deref(defs: Record<string, SchemaNode>, node: SchemaNode): SchemaNode {
  let n = node;
  for (let i = 0; n.$ref && i < 10; i++) n = defs[n.$ref.replace('#/definitions/', '')];
  return n;
}

/** `kind/method` of every knowledge entry the schema accepts, with whether it takes `pairs`. */
export function schemaMethods(s = schema()): Map<string, { pairs: boolean }> {
  const defs = s.definitions;
  const out = new Map<string, { pairs: boolean }>();
  for (const alt of deref(defs, defs.knowledgeEntry).oneOf ?? []) {
    const entry = deref(defs, alt);
    const kind = deref(defs, entry.properties?.kind ?? {}).const;
    const method = deref(defs, entry.properties?.method ?? {}).const;
    assert.equal(typeof kind, 'string', `a knowledge entry of the schema without a const kind: ${JSON.stringify(alt)}`);
    assert.equal(typeof method, 'string', `a knowledge entry of the schema without a const method: ${JSON.stringify(alt)}`);
    out.set(`${String(kind)}/${String(method)}`, { pairs: (entry.required ?? []).includes('pairs') });
  }
  return out;
}

export function catalogueMethods(): Map<string, { pairs: boolean }> {
  return new Map(METHOD_INFO.map((m) => [`${m.kind}/${m.method}`, { pairs: m.kind === 'feature' || m.kind === 'relation' }]));
}

/** What one side has and the other lacks, as readable lines. */
export function disagreement(a: Map<string, unknown>, b: Map<string, unknown>, aName: string, bName: string): string[] {
  return [
    ...[...a.keys()].filter((k) => !b.has(k)).map((k) => `${k} is in the ${aName} but not in the ${bName}`),
    ...[...b.keys()].filter((k) => !a.has(k)).map((k) => `${k} is in the ${bName} but not in the ${aName}`),
  ];
}

test('the JSON Schema offers exactly the catalogue\'s methods, each under its kind, pairs where the method pairs layers', () => {
  const fromSchema = schemaMethods();
  const fromCatalogue = catalogueMethods();
  assert.deepEqual(disagreement(fromCatalogue, fromSchema, 'catalogue (src/methods/catalogue.ts)', 'schema (schema/experiment.schema.json)'), []);
  for (const [key, { pairs }] of fromCatalogue) assert.equal(fromSchema.get(key)?.pairs, pairs, `${key}: "pairs" required in the schema`);
});

test('the agreement check fails when a method is added to one side only (and names it)', () => {
  const s = schema();
  s.definitions.relationNew = { properties: { kind: { $ref: '#/definitions/relationKind' }, method: { const: 'new-relation' } }, required: ['kind', 'method', 'pairs'] };
  s.definitions.knowledgeEntry.oneOf!.push({ $ref: '#/definitions/relationNew' });
  assert.deepEqual(disagreement(catalogueMethods(), schemaMethods(s), 'catalogue', 'schema'), ['relation/new-relation is in the schema but not in the catalogue']);
  const catalogue = catalogueMethods();
  catalogue.set('feature/new-feature', { pairs: true });
  assert.deepEqual(disagreement(catalogue, schemaMethods(), 'catalogue', 'schema'), ['feature/new-feature is in the catalogue but not in the schema']);
});

test('the engine has a loss (or a term builder) for every pair method of the catalogue, and none it does not list', () => {
  assert.deepEqual([...Object.keys(PAIR_LOSSES), ...Object.keys(PAIR_TERMS)].sort(), [...PAIR_METHODS].sort());
});

test('the pairing panel and the pairing edit offer the catalogue\'s pair methods under their kind', () => {
  assert.deepEqual([...PAIR_METHODS].sort(), METHOD_INFO.filter((m) => (m.kind === 'feature' || m.kind === 'relation') && !m.layerPairs).map((m) => m.method).sort());
  const text = '{ "knowledge": [] }';
  for (const m of METHOD_INFO) {
    const webview = parseWebviewMessage('pairing', { type: 'addPair', teacher: 'a', student: 'b', method: m.method });
    const edit = addPairEdit(text, m.method, 'a', 'b');
    if ((PAIR_METHODS as readonly string[]).includes(m.method)) {
      assert.ok(webview.ok, `${m.method}: the panel's message is accepted`);
      assert.ok(edit.ok, `${m.method}: the edit is made`);
      const entry = (JSON.parse(edit.text) as { knowledge: { kind: string; method: string }[] }).knowledge[0];
      assert.deepEqual([entry.kind, entry.method], [m.kind, m.method]);
    } else {
      assert.equal(webview.ok, false, `${m.method} does not pair single layers: refused`);
      assert.equal(edit.ok, false, `${m.method}: no edit`);
    }
  }
});
