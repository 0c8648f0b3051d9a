/**
 * Issue 20 ("a new user's first hour") in the panels' bundles, in Chromium with a fake host: the
 * weight of a new pair, and (as they are added) charts, the verdict card and narrow layouts.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { addPairEdit } from '../../src/host/panels/pairEdit';
import { parseWebviewMessage } from '../../src/protocol/webviews';
import { close, launch, openPanel, REPO } from './harness';
import * as fx from './fixtures';

before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', 'pairing.js')), 'run `npm run build` first (dist/webview/*.js)');
  await launch();
});
after(close);

describe('pairing: the weight of a new pair', () => {
  test('a new entry\'s weight is asked for (a field, the method\'s default), sent with the pair and written', async () => {
    const p = await openPanel('pairing');
    await p.send({ type: 'init', panel: 'pairing', target: { runDirs: [], experimentFile: '/ws/a.distill.json', title: 't' }, data: fx.pairing() });
    await p.page.waitForSelector('.layer');
    // fitnet already has an entry: its pairs share that entry's weight, the field says so and is disabled
    assert.equal(await p.page.getAttribute('#pair-weight', 'disabled'), '');
    assert.match(await p.page.textContent('#weight-label') ?? '', /Weight \(shared\)/);
    // a method without an entry: the field is enabled with the default; the typed weight goes with the pair
    await p.page.evaluate(() => {
      const sel = document.getElementById('method') as HTMLElement & { value: string };
      sel.value = 'nst';
      sel.dispatchEvent(new Event('change'));
    });
    await p.page.waitForSelector('#pair-weight:not([disabled])');
    assert.equal(await p.page.evaluate(() => (document.getElementById('pair-weight') as HTMLElement & { value: string }).value), '1');
    await p.page.evaluate(() => {
      const w = document.getElementById('pair-weight') as HTMLElement & { value: string };
      w.value = '0.5';
      w.dispatchEvent(new Event('input'));
    });
    await p.page.click('[data-side="teacher"][data-layer="conv_2"]');
    await p.page.click('[data-side="student"][data-layer="s_pool"]');
    await p.page.click('#add-pair');
    const adds = (await p.posted()).filter((m) => m.type === 'addPair');
    assert.deepEqual(adds[adds.length - 1], { type: 'addPair', teacher: 'conv_2', student: 's_pool', method: 'nst', weight: 0.5 });
    await p.page.close();
  });

  test('the host checks the weight and writes it into the new entry', () => {
    const msg = parseWebviewMessage('pairing', { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight: 0.5 });
    assert.deepEqual(msg, { ok: true, msg: { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight: 0.5 } });
    for (const weight of [0, -1, 'x', Infinity, 2e6]) assert.ok(!parseWebviewMessage('pairing', { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight }).ok, String(weight));
    const text = '{\n  "knowledge": [\n    { "kind": "response", "method": "kd", "weight": 1 }\n  ]\n}\n';
    const add = addPairEdit(text, 'nst', 'conv_2', 's_pool', 0.5);
    assert.ok(add.ok);
    assert.match(add.text, /\{ "kind": "feature", "method": "nst", "weight": 0\.5, "pairs": \[\{ "teacher": "conv_2", "student": "s_pool" \}\] \}/);
    const dflt = addPairEdit(text, 'at', 'conv_2', 's_pool');
    assert.ok(dflt.ok && /"method": "at", "weight": 100,/.test(dflt.text), 'without a weight: the method\'s default');
  });
});
