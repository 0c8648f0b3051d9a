/** Host side of the panels, without VS Code: message validation, the pairing edits, restored targets, run-folder data. */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { parseWebviewMessage } from '../../src/protocol/webviews';
import { addPairEdit, removePairEdit } from '../../src/host/panels/pairEdit';
import { validTarget } from '../../src/host/panels/html';
import { configDiff, DashboardBuilder, pairLosses, termName } from '../../src/host/panels/panelData';
import { MetricsTail } from '../../src/runs/store';

test('webview messages: accepted per panel, shapes and strings checked', () => {
  assert.ok(parseWebviewMessage('pairing', { type: 'addPair', teacher: 'conv_1', student: 'dense_2', method: 'fitnet' }).ok);
  // the Trust Folder button of the panels that show models
  for (const kind of ['pairing', 'featureMaps', 'compression'] as const) assert.deepEqual(parseWebviewMessage(kind, { type: 'manageTrust', path: '/etc' }), { ok: true, msg: { type: 'manageTrust' } });
  const bad: [Parameters<typeof parseWebviewMessage>[0], unknown, RegExp][] = [
    ['pairing', null, /not an object/],
    ['pairing', { type: 'exportStudent' }, /unexpected message type/],
    ['dashboard', { type: 'manageTrust' }, /unexpected message type/],
    ['dashboard', { type: 'addPair', teacher: 'a', student: 'b', method: 'fitnet' }, /unexpected message type/],
    ['pairing', { type: 'addPair', teacher: '../../etc/passwd"', student: 'b', method: 'fitnet' }, /layer names/],
    ['pairing', { type: 'addPair', teacher: 'a', student: 'b', method: 'kd' }, /method must be one of/],
    ['pairing', { type: 'removePair', entry: -1, pair: 0 }, /small non-negative integers/],
    ['pairing', { type: 'removePair', entry: 1.5, pair: 0 }, /small non-negative integers/],
    ['featureMaps', { type: 'probe', requestId: 1, checkpoint: 'distill-s1/epoch-0001', sample: 0, pair: '../x' }, /ids handed out/],
    ['dashboard', { type: 'save', format: 'csv', name: '../../.bashrc.csv', data: 'x' }, /plain file name/],
    ['dashboard', { type: 'save', format: 'csv', name: '/tmp/a.csv', data: 'x' }, /plain file name/],
    ['dashboard', { type: 'save', format: 'png', name: 'a.png', data: 'data:text/html,<script>' }, /base64 data URL/],
    ['dashboard', { type: 'save', format: 'csv', name: 'a.png', data: 'x' }, /ending in the format/],
  ];
  for (const [kind, msg, why] of bad) {
    const r = parseWebviewMessage(kind, msg);
    assert.ok(!r.ok, JSON.stringify(msg));
    assert.match(r.reason, why);
  }
  const probe = parseWebviewMessage('featureMaps', { type: 'probe', requestId: 3, checkpoint: 'distill-s1/epoch-0002', sample: 5, pair: '1:0', extra: 'dropped' });
  assert.deepEqual(probe, { ok: true, msg: { type: 'probe', requestId: 3, checkpoint: 'distill-s1/epoch-0002', sample: 5, pair: '1:0' } });
});

const EXP = `{
  // the experiment
  "name": "mix",
  "knowledge": [
    { "kind": "response", "method": "kd", "temperature": 4, "weight": 0.9 }, // soft targets
    {
      "kind": "feature", "method": "at", "weight": 100,
      "pairs": [
        { "teacher": "conv_1", "student": "conv_1" } // same resolution
      ]
    }
  ],
  "labels": { "weight": 0.1 } /* hard labels */
}
`;

test('pairing edits keep comments and formatting; add then remove gives the text back', () => {
  const add = addPairEdit(EXP, 'at', 'conv_2', 'conv_2');
  assert.ok(add.ok);
  assert.equal(add.text, EXP.replace('{ "teacher": "conv_1", "student": "conv_1" } // same resolution',
    '{ "teacher": "conv_1", "student": "conv_1" }, // same resolution\n        { "teacher": "conv_2", "student": "conv_2" }'));
  const back = removePairEdit(add.text, 1, 1, { teacher: 'conv_2', student: 'conv_2' });
  assert.ok(back.ok);
  assert.equal(back.text, EXP.replace('} // same resolution', '} // same resolution'));
  // a new method: a new entry at the end of knowledge, one line, in the file's indentation
  const nw = addPairEdit(EXP, 'rkd-distance', 'dense_1', 'dense_1');
  assert.ok(nw.ok);
  assert.match(nw.text, /\} \/\/ same resolution\n {6}\]\n {4}\},\n {4}\{ "kind": "relation", "method": "rkd-distance", "weight": 1, "pairs": \[\{ "teacher": "dense_1", "student": "dense_1" \}\] \}\n {2}\],/);
  assert.match(nw.text, /\/\/ soft targets/);
  assert.match(nw.text, /\/\* hard labels \*\//);
  // removing the last pair of an entry removes the entry; the other entries' comments stay
  const rm = removePairEdit(EXP, 1, 0);
  assert.ok(rm.ok);
  assert.equal(rm.text, EXP.replace(/,( \/\/ soft targets)\n {4}\{[\s\S]*?\n {4}\}\n/, '$1\n'));
  // refusals
  assert.match((addPairEdit(EXP, 'at', 'conv_1', 'conv_1') as { reason: string }).reason, /already pairs/);
  assert.match((removePairEdit(EXP, 0, 0) as { reason: string }).reason, /no knowledge\[0\]\.pairs\[0\]/);
  assert.match((removePairEdit(EXP, 1, 0, { teacher: 'x', student: 'y' }) as { reason: string }).reason, /no longer/);
});

test('restored targets: only run folders and experiment files inside the workspace', () => {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-ws-'));
  const run = path.join(ws, '.distill', 'runs', 'e', 'r1');
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(path.join(run, 'run.json'), '{}');
  const inWs = (p: string) => !path.relative(ws, p).startsWith('..');
  assert.deepEqual(validTarget({ runDirs: [run], experimentFile: path.join(ws, 'a.distill.json'), title: 't' }, inWs),
    { runDirs: [run], experimentFile: path.join(ws, 'a.distill.json'), title: 't' });
  assert.equal(validTarget({ runDirs: ['/etc'], title: 't' }, inWs), undefined);
  assert.equal(validTarget({ runDirs: [path.join(ws, 'nope')], title: 't' }, inWs), undefined);
  assert.equal(validTarget({ runDirs: [], experimentFile: path.join(ws, 'secrets.json'), title: 't' }, inWs), undefined);
  assert.equal(validTarget({ runDirs: [], experimentFile: '/elsewhere/x.distill.json', title: 't' }, inWs), undefined);
  assert.equal(validTarget('junk', inWs), undefined);
});

test('run-folder data: metrics read incrementally, per-pair losses, term names, config diff', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-run-'));
  const file = path.join(dir, 'metrics.jsonl');
  const step = (s: number) => JSON.stringify({ type: 'step', job: 'distill-s1', epoch: 1, step: s, globalStep: s, losses: { at: 1 / s, total: 2 / s }, pairs: { at: { 'conv_1→conv_1': 1 / s } }, lr: 0.001, t: '' });
  fs.writeFileSync(file, `${step(1)}\n${step(2)}\n${step(3).slice(0, 20)}`); // a torn last line
  const tail = new MetricsTail(dir);
  const b = new DashboardBuilder();
  const first = b.points(tail.read());
  assert.deepEqual(first.losses.map((s) => [s.name, s.value.length]), [['distill-s1 · at', 2], ['distill-s1 · total', 2]]);
  fs.writeFileSync(file, `${step(1)}\n${step(2)}\n${step(3)}\n${step(4)}\n`);
  const next = b.points(tail.read());
  assert.deepEqual(next.losses[0].step, [3, 4], 'only the new lines');
  assert.deepEqual(tail.read(), []);
  const pl = pairLosses([...JSON.parse(`[${step(1)},${step(2)}]`)]);
  assert.deepEqual(pl.get('at|conv_1→conv_1'), [1, 0.5]);
  assert.equal(termName(['kd', 'fitnet', 'at', 'fitnet'], 3), 'fitnet#2');
  assert.equal(termName(['kd', 'fitnet', 'at', 'fitnet'], 1), 'fitnet');
  const diff = configDiff([{ a: 1, k: [{ t: 4 }] }, { a: 1, k: [{ t: 8 }], b: true }]);
  assert.deepEqual(diff, [
    { key: 'a', values: ['1', '1'], differs: false },
    { key: 'k[0].t', values: ['4', '8'], differs: true },
    { key: 'b', values: ['–', 'true'], differs: true },
  ]);
});
