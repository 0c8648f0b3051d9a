/**
 * The run folder is a contract (schema/run.schema.json, metrics.schema.json, report.schema.json):
 * folders the engine writes keep it — a run stopped mid-job and resumed (stop, resume events and a
 * resume record), a failed run — and the schemas are not empty promises: a folder that breaks the
 * contract is refused, naming the file, the line and the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { metricLines, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import { runFolderViolations } from '../helpers/runSchemas';

test('a run stopped mid-job and resumed keeps the run-folder schemas (every record kind)', async () => {
  const file = writeExperiment(tempDir(), syntheticExperiment({
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_1' }] },
    ],
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  }));
  let epochs = 0;
  const first = await runExperiment({ experiment: file, emit: (m) => { if (m.type === 'epoch' && m.job === 'distill-s1') epochs++; }, shouldStop: () => epochs > 0 });
  assert.equal(first.status, 'cancelled', first.error);
  assert.deepEqual(runFolderViolations(first.runDir), []);
  const resumed = await runExperiment({ resume: first.runDir });
  assert.equal(resumed.status, 'completed', resumed.error);
  const kinds = new Set(metricLines(first.runDir).map((r) => r.type === 'event' ? `event:${String(r.event)}` : String(r.type)));
  for (const k of ['step', 'epoch', 'resume', 'event:start', 'event:stop', 'event:resume', 'event:job-done']) assert.ok(kinds.has(k), `${k} written (${[...kinds].join(', ')})`);
  assert.ok(fs.existsSync(path.join(first.runDir, 'report.json')));
  assert.deepEqual(runFolderViolations(first.runDir), []);
});

test('a run that fails keeps the schemas too (status failed, its error)', async () => {
  const file = writeExperiment(tempDir(), syntheticExperiment({ training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 1e30 } } }));
  const r = await runExperiment({ experiment: file });
  assert.equal(r.status, 'failed');
  assert.deepEqual(runFolderViolations(r.runDir), []);
});

test('a folder that breaks the contract is refused, naming the file, the line and the field', async () => {
  const file = writeExperiment(tempDir(), syntheticExperiment({ baseline: false, training: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } } }));
  const r = await runExperiment({ experiment: file });
  assert.equal(r.status, 'completed', r.error);
  assert.deepEqual(runFolderViolations(r.runDir), []);
  const run = JSON.parse(fs.readFileSync(path.join(r.runDir, 'run.json'), 'utf8'));
  fs.writeFileSync(path.join(r.runDir, 'run.json'), JSON.stringify({ ...run, status: 'done', extra: 1 }));
  fs.appendFileSync(path.join(r.runDir, 'metrics.jsonl'), JSON.stringify({ type: 'step', job: 'distill-s1', epoch: 0, step: 1, globalStep: 1, losses: { total: 'x' }, lr: 0.1, t: 'now' }) + '\n');
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8'));
  delete report.student;
  fs.writeFileSync(path.join(r.runDir, 'report.json'), JSON.stringify(report));
  const v = runFolderViolations(r.runDir).join('\n');
  assert.match(v, /run\.json: .*\/status must be equal to one of the allowed values/);
  assert.match(v, /run\.json: .*must NOT have additional properties .*"extra"/);
  const lineNo = fs.readFileSync(path.join(r.runDir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').length;
  assert.match(v, new RegExp(`metrics\\.jsonl:${lineNo} \\(step\\): `));
  assert.match(v, /report\.json: .*must have required property 'student'/);
});
