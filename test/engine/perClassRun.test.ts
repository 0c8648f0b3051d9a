/**
 * In a run: crop + flip augmentation is resumable (a run stopped mid-epoch and resumed trains on
 * exactly the batches of the uninterrupted run), and every epoch's evaluation records per-class
 * accuracy and the confusion matrix, pooled in report.json and listed by the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runExperiment } from '../../src/engine/run';
import type { Report } from '../../src/runs/report';
import { summaryTable } from '../../src/cli/main';
import { imageExperiment, metricLines, tempDir, writeExperiment } from '../helpers/experiments';

function experiment(): Record<string, unknown> {
  const exp = imageExperiment({ training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 } }, 128);
  (exp.data as Record<string, unknown>).augment = { crop: 2, flip: true };
  return exp;
}

test('crop + flip: a run stopped mid-epoch and resumed takes the same steps (losses) as the uninterrupted run', async () => {
  const a = await runExperiment({ experiment: writeExperiment(tempDir(), experiment()) });
  assert.equal(a.status, 'completed', a.error);
  let stop = false;
  const file = writeExperiment(tempDir(), experiment());
  const b = await runExperiment({
    experiment: file, shouldStop: () => stop,
    emit: (m) => { if (m.type === 'progress' && m.job === 'distill-s1' && m.epoch === 1 && m.step >= 2) stop = true; },
  });
  assert.equal(b.status, 'cancelled', b.error);
  const c = await runExperiment({ resume: b.runDir });
  assert.equal(c.status, 'completed', c.error);
  const steps = (dir: string) => metricLines(dir).filter((l) => l.type === 'step').map((l) => `${String(l.job)} ${String(l.globalStep)} ${JSON.stringify(l.losses)}`);
  const sa = steps(a.runDir);
  const sb = steps(b.runDir);
  assert.equal(sb.length, sa.length, 'every step once');
  assert.deepEqual(sb, sa);
});

test('per-class results: every epoch record has the confusion matrix; report.json pools them; the CLI lists the worst classes', async () => {
  const dir = tempDir();
  const r = await runExperiment({ experiment: writeExperiment(dir, imageExperiment({ baseline: true, training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } }, 128)) });
  assert.equal(r.status, 'completed', r.error);
  const epochs = metricLines(r.runDir).filter((l) => l.type === 'epoch');
  assert.deepEqual([...new Set(epochs.map((e) => e.job))].sort(), ['distill-s1', 'scratch-s1', 'teacher']);
  for (const e of epochs) {
    const pc = e.perClass as { acc: (number | null)[]; confusion: number[][] };
    assert.equal(pc.confusion.length, 4);
    const total = pc.confusion.flat().reduce((s, v) => s + v, 0);
    assert.equal(total, 64, 'every test sample counted once');
    const correct = pc.confusion.reduce((s, row, i) => s + row[i], 0);
    assert.ok(Math.abs(correct / total - (e.testAcc as number)) < 1e-12, 'diagonal = test accuracy');
    pc.acc.forEach((a, i) => {
      const n = pc.confusion[i].reduce((s, v) => s + v, 0);
      assert.equal(a, n ? pc.confusion[i][i] / n : null);
    });
  }
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Report;
  const p = report.perClass!;
  assert.deepEqual(p.classNames, ['0', '1', '2', '3']);
  assert.equal(p.reference, 'teacher');
  const last = (job: string) => epochs.filter((e) => e.job === job).pop()!.perClass as { confusion: number[][] };
  assert.deepEqual(p.distill!.confusion, last('distill-s1').confusion);
  assert.deepEqual(p.scratch!.confusion, last('scratch-s1').confusion);
  assert.ok(Math.abs(p.teacher!.confusion.reduce((s, row, i) => s + row[i], 0) / 64 - report.teacher!.testAcc) < 1e-12);
  for (let k = 1; k < p.gaps.length; k++) assert.ok(p.gaps[k - 1].drop >= p.gaps[k].drop);
  const text = summaryTable(report);
  assert.match(text, /worst classes of the distilled student/);
  const worstLines = text.split('\n').slice(-Math.min(5, p.gaps.length));
  assert.equal(worstLines[0].split(/\s+/)[0], String(p.gaps[0].class));
});

test('a whole run on an image folder streamed from disk (data.memoryMB below its size) matches the run with the folder in memory', async () => {
  const { PNG } = await import('pngjs');
  const dir = tempDir();
  for (let i = 0; i < 160; i++) {
    const c = i % 4;
    const p = new PNG({ width: 8, height: 8 });
    for (let k = 0; k < 64; k++) {
      const y = Math.floor(k / 8), x = k % 8;
      const v = (c === 0 ? x * 30 : c === 1 ? y * 30 : c === 2 ? (x + y) * 15 : 255 - x * 30) + ((i * 17 + k * 5) % 40);
      p.data[k * 4] = p.data[k * 4 + 1] = p.data[k * 4 + 2] = Math.min(255, v);
      p.data[k * 4 + 3] = 255;
    }
    const split = i < 128 ? 'train' : 'test';
    const file = path.join(dir, split, `k${c}`, `${i}.png`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, PNG.sync.write(p, { colorType: 0 }));
  }
  const exp = (memoryMB: number) => imageExperiment({
    baseline: true,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.5 }, { kind: 'feature', method: 'fitnet', weight: 0.5, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] }],
    labels: { weight: 0.5 },
    data: { train: { format: 'images', path: 'train', channels: 1 }, test: { format: 'images', path: 'test', channels: 1 }, validation: { fraction: 0.25 }, memoryMB },
    training: { epochs: 2, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  });
  const logs: string[] = [];
  const held = await runExperiment({ experiment: writeExperiment(dir, exp(64), 'held.distill.json') });
  assert.equal(held.status, 'completed', held.error);
  // 128 training images of 8×8×1 as float32: 32 KiB; a bound of 0.01 MB streams both folders
  const streamed = await runExperiment({ experiment: writeExperiment(dir, exp(0.01), 'streamed.distill.json'), emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(streamed.status, 'completed', streamed.error);
  assert.ok(logs.some((l) => /data\.train: 128 images .*streamed from the cache in batches/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /found in the decode cache .*no image read/.test(l)), 'the second run reads the cache');
  const epochs = (d: string) => metricLines(d).filter((l) => l.type === 'epoch');
  const a = epochs(held.runDir);
  const b = epochs(streamed.runDir);
  assert.equal(b.length, a.length);
  a.forEach((e, i) => {
    assert.equal(b[i].job, e.job);
    for (const k of ['valAcc', 'testAcc', 'trainAcc']) assert.ok(Math.abs((b[i][k] as number) - (e[k] as number)) < 1e-9, `${String(e.job)} epoch ${String(e.epoch)} ${k}`);
    for (const [k, v] of Object.entries(e.losses as Record<string, number>)) {
      assert.ok(Math.abs((b[i].losses as Record<string, number>)[k] - v) <= 1e-5 * Math.max(1, Math.abs(v)), `${String(e.job)} ${k}`);
    }
  });
});
