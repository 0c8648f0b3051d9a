/**
 * A pre-trained teacher's outputs kept on disk beside the runs (models/teacherDiskCache.ts): the
 * first run saves them once complete; a later run with the same teacher file and data reads them
 * and trains exactly as if it had run the teacher; a changed teacher or changed data misses; a
 * damaged entry is ignored, recomputed and left as it is; teacherCacheMB 0 keeps nothing; the data
 * fingerprint sees labels, sampled values, sizes and normalisation.
 *
 *   node --import tsx --test test/engine/teacherOutputs.test.ts
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import type { PreparedData } from '../../src/engine/data';
import { saveLayersModel } from '../../src/engine/models/fileIO';
import { dataFingerprint } from '../../src/engine/models/teacherDiskCache';
import { runExperiment } from '../../src/engine/run';
import { metricLines, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

before(async () => {
  await initBackend('auto');
});

async function saveTeacher(dir: string, seed: number): Promise<void> {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [16], units: 24, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  m.add(tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  await saveLayersModel(m, path.join(dir, 'teacher'));
  m.dispose();
}

function experiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return syntheticExperiment({
    name: 'cached-teacher',
    teacher: { model: 'teacher/model.json' },
    baseline: false,
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
    ...overrides,
  });
}

async function run(dir: string, exp: Record<string, unknown>, name = 'exp.distill.json'): Promise<{ runDir: string; logs: string[] }> {
  const logs: string[] = [];
  const r = await runExperiment({ experiment: writeExperiment(dir, exp, name), emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(r.status, 'completed', r.error);
  return { runDir: r.runDir, logs };
}

/**
 * Runs in this process share a teacher's outputs in memory (keyed by model.json's mtime); moving
 * the mtime makes the next run behave as a new process would, with only the disk to go by.
 */
let bump = 0;
function forgetInProcess(dir: string): void {
  const t = new Date(Date.now() + 10_000 * ++bump);
  fs.utimesSync(path.join(dir, 'teacher', 'model.json'), t, t);
}

const cacheDir = (dir: string) => path.join(dir, '.distill', 'runs', '.cache', 'teacher-outputs');
const entries = (dir: string) => (fs.existsSync(cacheDir(dir)) ? fs.readdirSync(cacheDir(dir)).sort() : []);
const losses = (runDir: string) => metricLines(runDir).filter((l) => l.type === 'step' && l.job === 'distill-s1').map((l) => l.losses);
const saved = (logs: string[]) => logs.some((l) => /^teacher outputs saved to \.distill\/runs\/\.cache\/teacher-outputs\/[0-9a-f]{24}\.json/.test(l));
const read = (logs: string[]) => logs.some((l) => /^teacher outputs read from \.distill\/runs\/\.cache\/teacher-outputs\/[0-9a-f]{24}\.json \(saved by run [\d-]+\): no pass of the teacher over the data$/.test(l));

test('the first run saves the teacher outputs; a later run reads them and trains the same; the entry is never rewritten', async () => {
  const dir = tempDir();
  await saveTeacher(dir, 1);
  const first = await run(dir, experiment());
  assert.ok(saved(first.logs), first.logs.join('\n'));
  const files = entries(dir);
  assert.equal(files.length, 2, files.join(', '));
  const header = JSON.parse(fs.readFileSync(path.join(cacheDir(dir), files.find((f) => f.endsWith('.json'))!), 'utf8'));
  // 512 samples, validation fraction 0.125 → 448 + 64; 256 test; 4 classes
  assert.deepEqual([header.classes, header.rows], [4, { train: 448, validation: 64, test: 256 }]);
  assert.equal(header.run, path.basename(first.runDir));
  assert.equal(fs.statSync(path.join(cacheDir(dir), files[0])).size, (448 + 64 + 256) * 4 * 4);
  const stamp = files.map((f) => fs.statSync(path.join(cacheDir(dir), f)).mtimeMs);

  // A later process would not have the in-memory cache of this one (keyed by the file's mtime).
  forgetInProcess(dir);
  const second = await run(dir, experiment());
  assert.ok(read(second.logs), second.logs.join('\n'));
  assert.ok(!second.logs.some((l) => /^caching the outputs|worker thread/.test(l)), second.logs.join('\n'));
  assert.deepEqual(losses(second.runDir), losses(first.runDir), 'the same per-step losses as with the teacher run');
  const last = (runDir: string) => metricLines(runDir).filter((l) => l.type === 'epoch' && l.job === 'distill-s1').at(-1);
  assert.equal(last(second.runDir)!.klTeacher, last(first.runDir)!.klTeacher);
  assert.deepEqual(entries(dir), files);
  assert.deepEqual(files.map((f) => fs.statSync(path.join(cacheDir(dir), f)).mtimeMs), stamp, 'nothing rewritten');

  // Any experiment with the same teacher and data: another student reads them too.
  forgetInProcess(dir);
  const other = await run(dir, experiment({ name: 'other-student', student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [5], classes: 4 } } }), 'other.distill.json');
  assert.ok(read(other.logs), other.logs.join('\n'));
});

test('a changed teacher or changed data misses; a damaged entry is ignored and left as it is; teacherCacheMB 0 keeps nothing', async () => {
  const dir = tempDir();
  await saveTeacher(dir, 1);
  await run(dir, experiment());
  assert.equal(entries(dir).length, 2);

  // new weights in the same file
  fs.rmSync(path.join(dir, 'teacher'), { recursive: true });
  await saveTeacher(dir, 7);
  const changed = await run(dir, experiment());
  assert.ok(!read(changed.logs) && saved(changed.logs), changed.logs.join('\n'));
  assert.equal(entries(dir).length, 4);

  // other data (another synthetic seed)
  const base = experiment();
  const data = base.data as Record<string, Record<string, unknown>>;
  const otherData = await run(dir, { ...base, data: { ...data, train: { ...data.train, seed: 3 } } });
  assert.ok(!read(otherData.logs) && saved(otherData.logs), otherData.logs.join('\n'));
  assert.equal(entries(dir).length, 6);

  // a truncated data file: ignored with the reason, the teacher runs, the file stays as it was
  const damaged = entries(dir).filter((f) => f.endsWith('.f32'));
  for (const f of damaged) fs.truncateSync(path.join(cacheDir(dir), f), 100);
  forgetInProcess(dir);
  const afterDamage = await run(dir, experiment());
  assert.ok(afterDamage.logs.some((l) => /^teacher outputs on disk ignored: .*\.f32: expected \d+ bytes, found 100$/.test(l)), afterDamage.logs.join('\n'));
  assert.ok(!read(afterDamage.logs));
  assert.ok(afterDamage.logs.some((l) => /^caching the outputs of the teacher/.test(l)));
  for (const f of damaged) assert.equal(fs.statSync(path.join(cacheDir(dir), f)).size, 100, `${f} not rewritten`);

  const off = tempDir();
  await saveTeacher(off, 1);
  const none = await run(off, experiment({ teacherCacheMB: 0 }));
  assert.ok(!saved(none.logs) && !read(none.logs), none.logs.join('\n'));
  assert.deepEqual(entries(off), []);
});

test('the data fingerprint changes with a label, a sampled input value, a size or the normalisation', () => {
  const split = (n: number, shift = 0) => ({
    name: 's', x: Float32Array.from({ length: n * 3 }, (_, i) => i * 0.5 + shift), y: Int32Array.from({ length: n }, (_, i) => i % 4), shape: [3], size: n,
  });
  const prepared = (train = split(10), test = split(4)) =>
    ({ train, test, numClasses: 4, shape: [3], normalization: { kind: 'none' } }) as unknown as PreparedData;
  const base = dataFingerprint(prepared());
  assert.equal(dataFingerprint(prepared()), base, 'the same data, the same fingerprint');
  const label = split(10);
  label.y[3] = 0;
  assert.notEqual(dataFingerprint(prepared(label)), base, 'a label');
  const value = split(10);
  value.x[14] += 1;
  assert.notEqual(dataFingerprint(prepared(value)), base, 'an input value (every 7th is read)');
  assert.notEqual(dataFingerprint(prepared(split(11))), base, 'a size');
  assert.notEqual(dataFingerprint(prepared(split(10, 0.25), split(4, 0.25))), base, 'normalised differently');
});
