/**
 * The Synthesized Inputs panel's data (src/host/panels/synthesizedData.ts) from fixture run folders
 * written as the engines write them (test/helpers/synthesizedFixture.ts): pixels against values
 * computed by hand (per-image stretch outside [0, 1], as stored inside it, RGB channel order), the
 * grid per class (first inputs of each class in batch order, class names from run.json), the
 * summary means, the newest batch by default and a picked one, a batch being written (a .bin
 * without its .json) not shown, and located errors for a bad folder.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, test } from 'node:test';
import { batchScale, batchSummary, hasSynthesized, imageGeometry, inputPixels, synthesizedData } from '../../src/host/panels/synthesizedData';
import { rampValue, writeBatch, writeSynthRun } from '../helpers/synthesizedFixture';
import type { SynthFixture } from '../helpers/synthesizedFixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const grey: SynthFixture = { shape: [4, 4, 1], classes: 3, batchSize: 8, batches: 3, value: rampValue(16), classNames: ['zero', 'one', 'two'] };

test('geometry: [H, W, C], [H, W], and a vector as a 1 × D strip', () => {
  assert.deepEqual(imageGeometry([28, 28, 1]), { h: 28, w: 28, channels: 1 });
  assert.deepEqual(imageGeometry([32, 32, 3]), { h: 32, w: 32, channels: 3 });
  assert.deepEqual(imageGeometry([5, 7]), { h: 5, w: 7, channels: 1 });
  assert.deepEqual(imageGeometry([20]), { h: 1, w: 20, channels: 1 });
});

test('pixels: each input stretched over its own min..max when the batch leaves [0, 1]; as stored inside it', () => {
  // input 1 of a 4-pixel grey image: values −0.25, 0.25, 0.5, 0.75 (exact in float32) → stretched (v + 0.25)·255
  const v = new Float32Array([9, 9, 9, 9, -0.25, 0.25, 0.5, 0.75]);
  assert.equal(batchScale(v), 'per-image');
  assert.deepEqual(inputPixels(v, 1, [2, 2, 1], 'per-image'), { c: 1, pixels: [0, 128, 191, 255] }); // 0.5·255 = 127.5 → 128, 0.75·255 = 191.25 → 191
  assert.deepEqual(inputPixels(v, 0, [2, 2, 1], 'per-image').pixels, [128, 128, 128, 128], 'a constant input is mid-grey');
  // RGB in [0, 1]: channel order kept, v·255 rounded
  const rgb = new Float32Array([0, 0.5, 1, 0.2, 0.4, 0.6]);
  assert.equal(batchScale(rgb), 'unit');
  assert.deepEqual(inputPixels(rgb, 0, [1, 2, 3], 'unit'), { c: 3, pixels: [0, 128, 255, 51, 102, 153] });
  // two channels: their mean as grey
  assert.deepEqual(inputPixels(new Float32Array([0, 1, 0.5, 0.5]), 0, [1, 2, 2], 'unit'), { c: 1, pixels: [128, 128] });
  assert.equal(batchScale(new Float32Array([0.5, NaN])), 'per-image');
});

test('summary: BN loss means per batch, teacher accuracy weighted by the inputs', () => {
  const s = batchSummary([
    { index: 1, count: 10, bnLoss: { start: 4, end: 1 }, classLoss: 0, teacherAcc: 0.5, seconds: 1, curve: [] },
    { index: 2, count: 30, bnLoss: { start: 2, end: 0.5 }, classLoss: 0, teacherAcc: 1, seconds: 1, curve: [] },
  ])!;
  assert.deepEqual(s, { bnStart: 3, bnEnd: 0.75, samples: 40, teacherAcc: (5 + 30) / 40 });
  assert.equal(batchSummary([]), undefined);
});

test('a run folder: the newest batch\'s grid by class (names from run.json), a picked batch, a batch in writing not shown', () => {
  const run = path.join(tmp, 'grey');
  writeSynthRun(run, grey, 2);
  assert.ok(hasSynthesized(run));
  const d = synthesizedData(run, 'running', undefined, grey.classNames);
  assert.deepEqual(d.meta, { shape: [4, 4, 1], classes: 3, samples: 24, batchSize: 8, batches: 3 });
  assert.deepEqual(d.batches.map((b) => [b.index, b.bnLoss.start, b.bnLoss.end, b.teacherAcc]), [[1, 10, 1, 0.5], [2, 5, 0.5, 1 - 1 / 3]]);
  const { teacherAcc, ...rest } = d.summary!;
  assert.deepEqual(rest, { bnStart: 7.5, bnEnd: 0.75, samples: 16 });
  assert.ok(Math.abs(teacherAcc - (0.5 + 2 / 3) / 2) < 1e-12, `teacher accuracy ${teacherAcc}`);
  const g = d.grid!;
  assert.equal(g.batch, 2);
  assert.deepEqual([g.h, g.w, g.c, g.scale], [4, 4, 1, 'per-image']);
  // labels n mod 3 over 8 inputs: class 0 ← 0, 3, 6; class 1 ← 1, 4, 7; class 2 ← 2, 5
  assert.deepEqual(g.classes.map((c) => [c.label, c.name, c.count, c.images.map((i) => i.index)]), [[0, 'zero', 3, [0, 3, 6]], [1, 'one', 3, [1, 4, 7]], [2, 'two', 2, [2, 5]]]);
  // every input is a ramp over its 16 pixels: stretched, pixel p is round(p/15·255)
  assert.deepEqual(g.classes[1].images[0].pixels, Array.from({ length: 16 }, (_, p) => Math.round((p / 15) * 255)));
  // a picked batch
  assert.equal(synthesizedData(run, 'running', 1).grid!.batch, 1);
  // batch 3's .bin is there but its .json is not (in writing): not listed, not shown
  fs.copyFileSync(path.join(run, 'synthesized', 'batch-0002.bin'), path.join(run, 'synthesized', 'batch-0003.bin'));
  const writing = synthesizedData(run, 'running');
  assert.equal(writing.batches.length, 2);
  assert.equal(writing.grid!.batch, 2);
  writeBatch(run, grey, 3);
  assert.equal(synthesizedData(run, 'completed').grid!.batch, 3);
  // class names that do not fit the classes: the labels
  assert.deepEqual(synthesizedData(run, 'completed', 1, ['a', 'b']).grid!.classes.map((c) => c.name), ['0', '1', '2']);
});

test('RGB inputs in [0, 1] are shown as stored', () => {
  const run = path.join(tmp, 'rgb');
  const f: SynthFixture = { shape: [2, 2, 3], classes: 2, batchSize: 4, batches: 1, value: (_b, n, i) => ((n * 12 + i) % 9) / 8 }; // eighths: exact in float32
  writeSynthRun(run, f, 1);
  const g = synthesizedData(run, 'completed').grid!;
  assert.deepEqual([g.c, g.scale], [3, 'unit']);
  assert.deepEqual(g.classes[1].images[0].pixels, Array.from({ length: 12 }, (_, i) => Math.round((((12 + i) % 9) / 8) * 255)));
});

test('not a data-free run, no batch yet, a broken batch: a note or a located error', () => {
  const plain = path.join(tmp, 'plain');
  fs.mkdirSync(plain);
  assert.equal(hasSynthesized(plain), false);
  assert.match(synthesizedData(plain, 'completed').note ?? '', /teacher-synthesized/);
  const empty = path.join(tmp, 'empty');
  writeSynthRun(empty, grey, 0);
  const e = synthesizedData(empty, 'running');
  assert.equal(e.grid, undefined);
  assert.match(e.note ?? '', /not written a batch yet/);
  const broken = path.join(tmp, 'broken');
  writeSynthRun(broken, grey, 1);
  fs.writeFileSync(path.join(broken, 'synthesized', 'batch-0001.bin'), Buffer.alloc(4 * 16 * 7)); // 7 inputs, the .json says 8
  assert.match(synthesizedData(broken, 'running').error ?? '', /batch-0001: 7 inputs in the \.bin, 8 \(count\) and 8 labels in the \.json/);
  fs.writeFileSync(path.join(broken, 'synthesized', 'meta.json'), '{ not json');
  assert.match(synthesizedData(broken, 'running').error ?? '', /meta\.json/);
});

test('the run\'s best accuracy (tree) is never the teacher\'s accuracy on its own synthesised batches', async () => {
  const { readRunView, forgetRun } = await import('../../src/host/runData');
  const run = path.join(tmp, 'best');
  writeSynthRun(run, { ...grey, status: 'running' }, 2);
  const epoch = (job: string, epoch: number, testAcc: number) => JSON.stringify({ type: 'epoch', job, epoch, losses: { total: 1 }, trainAcc: testAcc, testAcc, testErrors: 0, seconds: 1, t: new Date().toISOString() });
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), `${epoch('synthesize', 1, 1)}\n${epoch('synthesize', 2, 0.99)}\n`);
  forgetRun(run);
  assert.equal(readRunView(run)!.best, undefined, 'only synthesis records: no best yet');
  fs.appendFileSync(path.join(run, 'metrics.jsonl'), `${epoch('scratch-s1', 1, 0.71)}\n`);
  forgetRun(run);
  assert.deepEqual(readRunView(run)!.best, { job: 'scratch-s1', epoch: 1, acc: 0.71, metric: 'testAcc' });
});
