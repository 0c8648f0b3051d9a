/**
 * The one metrics reader and the resume markers: what an interrupted attempt logged past its
 * checkpoint stays in metrics.jsonl but is not seen — by `readMetrics` (tree, report, CLI), by the
 * dashboard's incremental tail, or when a legacy checkpoint does not record the file's length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { MetricRecord } from '../../src/runs/store';
import { MetricsLog, readMetrics } from '../../src/runs/store';
import { offsetAfter } from '../../src/engine/runs/checkpoints';
import type { LoopState } from '../../src/engine/runs/checkpoints';
import { MetricsTail } from '../../src/runs/store';

const T = '2026-01-01T00:00:00.000Z';
const step = (job: string, epoch: number, s: number, total: number): MetricRecord =>
  ({ type: 'step', job, epoch, step: s, globalStep: (epoch - 1) * 10 + s, losses: { total }, lr: 0.1, t: T });
const epochRec = (job: string, epoch: number, testAcc: number): MetricRecord =>
  ({ type: 'epoch', job, epoch, losses: { total: 1 }, trainAcc: 0.5, testAcc, testErrors: 1, seconds: 1, t: T });

function runDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-metrics-'));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '');
  return dir;
}

/** Appends lines by hand (as a killed writer would leave them); returns the file's length after. */
function write(dir: string, ...lines: (MetricRecord | string)[]): number {
  const file = path.join(dir, 'metrics.jsonl');
  for (const l of lines) fs.appendFileSync(file, typeof l === 'string' ? l : JSON.stringify(l) + '\n');
  return fs.statSync(file).size;
}

const key = (r: MetricRecord) => `${r.type}|${r.job ?? ''}|${'epoch' in r ? r.epoch : ''}|${r.type === 'step' ? r.step : ''}|${r.type === 'step' ? r.losses.total : r.type === 'epoch' ? r.testAcc : ''}`;

test('a resume marker hides its job\'s records from its offset on, and nothing else; the file keeps them all', () => {
  const dir = runDir();
  write(dir, { type: 'event', event: 'start', t: T }, step('scratch-s1', 1, 1, 9), epochRec('scratch-s1', 1, 0.5));
  const ckpt = write(dir, step('distill-s1', 1, 1, 5), step('distill-s1', 1, 2, 4)); // checkpoint at distill-s1 epoch 1 step 2
  // the killed attempt went on, and tore its last line
  write(dir, step('distill-s1', 1, 3, 3.5), epochRec('distill-s1', 1, 0.6), step('distill-s1', 2, 1, 3), '{"type":"step","job":"dis');
  const log = new MetricsLog(dir); // ends the torn line
  log.append({ type: 'resume', job: 'distill-s1', epoch: 1, step: 2, supersedes: ckpt, t: T });
  log.append(step('distill-s1', 1, 3, 3.25));
  log.append(epochRec('distill-s1', 1, 0.625));

  assert.deepEqual(readMetrics(dir).map(key), [
    'event||||', 'step|scratch-s1|1|1|9', 'epoch|scratch-s1|1||0.5', 'step|distill-s1|1|1|5', 'step|distill-s1|1|2|4',
    'resume|distill-s1|1||', 'step|distill-s1|1|3|3.25', 'epoch|distill-s1|1||0.625',
  ]);
  const raw = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  assert.equal(raw.length, 12, 'every line ever written is still there');

  // a job started again without a checkpoint: all its earlier records go, the other job's stay
  log.append({ type: 'resume', job: 'distill-s1', epoch: 1, step: 0, supersedes: 0, t: T });
  log.append(step('distill-s1', 1, 1, 4.5));
  assert.deepEqual(readMetrics(dir).map(key), [
    'event||||', 'step|scratch-s1|1|1|9', 'epoch|scratch-s1|1||0.5', 'resume|distill-s1|1||', 'resume|distill-s1|1||', 'step|distill-s1|1|1|4.5',
  ]);
});

test('the dashboard\'s tail: new lines as they come; a marker that reaches back into lines already read says so, and a fresh read agrees with readMetrics', () => {
  const dir = runDir();
  write(dir, step('distill-s1', 1, 1, 5));
  const ckpt = write(dir, step('distill-s1', 1, 2, 4));
  const tail = new MetricsTail(dir);
  assert.deepEqual(tail.read().map(key), ['step|distill-s1|1|1|5', 'step|distill-s1|1|2|4']);
  write(dir, step('distill-s1', 1, 3, 3.5));
  assert.deepEqual(tail.read().map(key), ['step|distill-s1|1|3|3.5']);
  assert.equal(tail.superseded, false);
  write(dir, { type: 'resume', job: 'distill-s1', epoch: 1, step: 2, supersedes: ckpt, t: T }, step('distill-s1', 1, 3, 3.25));
  tail.read();
  assert.equal(tail.superseded, true, 'the point of step 3 already shown is superseded');
  const fresh = new MetricsTail(dir);
  assert.deepEqual(fresh.read().map(key), readMetrics(dir).map(key));
  assert.deepEqual(readMetrics(dir).filter((r) => r.type === 'step').map(key), ['step|distill-s1|1|1|5', 'step|distill-s1|1|2|4', 'step|distill-s1|1|3|3.25']);
  assert.equal(fresh.superseded, false);

  // a marker whose superseded records arrive in the same read is applied there, without a reset
  const dir2 = runDir();
  const tail2 = new MetricsTail(dir2);
  const at = write(dir2, step('distill-s1', 1, 1, 5));
  write(dir2, step('distill-s1', 1, 2, 4), { type: 'resume', job: 'distill-s1', epoch: 1, step: 1, supersedes: at, t: T }, step('distill-s1', 1, 2, 3));
  assert.deepEqual(tail2.read().filter((r) => r.type === 'step').map(key), ['step|distill-s1|1|1|5', 'step|distill-s1|1|2|3']);
  assert.equal(tail2.superseded, false);
});

test('a checkpoint without the metrics length (older runs): the records past its position are found in the file', () => {
  const dir = runDir();
  const state = (epoch: number, s: number, epochEnd: boolean): LoopState =>
    ({ epoch, step: s, epochEnd, globalStep: 0, sums: {}, seen: 0, correct: 0, elapsedSeconds: 0 });
  write(dir, step('scratch-s1', 1, 1, 1), step('distill-s1', 1, 1, 5));
  const afterStep1 = write(dir, step('distill-s1', 1, 2, 4));
  const afterStep2 = write(dir, epochRec('distill-s1', 1, 0.5));
  const end = write(dir, step('distill-s1', 2, 1, 3));
  const lineLength = (r: MetricRecord) => JSON.stringify(r).length + 1;
  // mid-epoch 1 after step 1: from step 2 on; after step 2: from the epoch record on
  assert.equal(offsetAfter(dir, 'distill-s1', state(1, 1, false)), afterStep1 - lineLength(step('distill-s1', 1, 2, 4)));
  assert.equal(offsetAfter(dir, 'distill-s1', state(1, 2, false)), afterStep2 - lineLength(epochRec('distill-s1', 1, 0.5)));
  // at the end of epoch 1: from epoch 2's first step on
  assert.equal(offsetAfter(dir, 'distill-s1', state(1, 2, true)), afterStep2);
  // nothing past the position: the file's length
  assert.equal(offsetAfter(dir, 'distill-s1', state(2, 1, false)), end);
  assert.equal(offsetAfter(dir, 'scratch-s1', state(1, 1, false)), end);
});
