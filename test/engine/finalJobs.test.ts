/**
 * "The distilled student" of a run is its final job (`distill-s<seed>`, the last born-again
 * generation), never a ta-chain assistant or an earlier generation: in report.json (jobs, summary,
 * exported model), the compare panel's curves and the runs tree's best accuracy — also for run
 * folders written before assistants carried `final: false`.
 *
 *   node --import tsx --test test/engine/finalJobs.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { readRun } from '../../src/runs/store';
import { isFinalJob } from '../../src/runs/finalJobs';
import { loadLayersModelFromFile } from '../../src/engine/models/fileIO';
import { compareData } from '../../src/host/panels/panelData';
import { forgetRun, readRunView } from '../../src/host/runData';
import type { Report } from '../../src/runs/report';
import { imageExperiment, metricLines, studentCnn, tempDir, writeExperiment } from '../helpers/experiments';

test('isFinalJob: an explicit `final` wins; without it, a distill job of the student is final and an assistant is not', () => {
  assert.equal(isFinalJob({ kind: 'distill', model: 'student', final: true }), true);
  assert.equal(isFinalJob({ kind: 'distill', model: 'student', final: false }), false); // born-again g < last
  assert.equal(isFinalJob({ kind: 'distill', model: 'assistant:0', final: false }), false);
  assert.equal(isFinalJob({ kind: 'online', model: 'student', final: true }), true);
  // Folders from before `final` existed, or before assistants were marked:
  assert.equal(isFinalJob({ kind: 'distill' }), true);
  assert.equal(isFinalJob({ kind: 'distill', model: 'student' }), true);
  assert.equal(isFinalJob({ kind: 'distill', model: 'assistant:1' }), false);
  assert.equal(isFinalJob({ kind: 'scratch', model: 'student' }), false);
  assert.equal(isFinalJob({ kind: 'teacher', model: 'teacher' }), false);
});

async function run(exp: Record<string, unknown>): Promise<string> {
  const dir = tempDir();
  const file = writeExperiment(dir, exp);
  const r = await runExperiment({ experiment: file, teacherThread: false });
  assert.equal(r.status, 'completed', r.error);
  return r.runDir;
}

function readReport(runDir: string): Report {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Report;
}

async function paramsOf(file: string): Promise<number> {
  const m = await loadLayersModelFromFile(file);
  try {
    return m.countParams();
  } finally {
    m.dispose();
  }
}

test('ta-chain: the assistant is not a distilled student, is not summarised and is not exported', async () => {
  // The assistant is much larger than the student, so it is the likelier of the two to score best.
  const assistant = { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [8, 12], dense: 24, classes: 4 } };
  const runDir = await run(imageExperiment({
    scheme: { kind: 'ta-chain', assistants: [assistant] },
    student: studentCnn,
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
    baseline: true,
  }));
  const jobs = readRun(runDir).jobs;
  assert.deepEqual(Object.keys(jobs), ['teacher', 'scratch-s1', 'ta1-s1', 'distill-s1']);
  assert.equal(jobs['ta1-s1'].final, false, 'planJobs marks the assistant as not final');
  assert.equal(jobs['distill-s1'].final, true);

  const report = readReport(runDir);
  assert.deepEqual(Object.keys(report.jobs).sort(), ['distill-s1', 'scratch-s1']);
  assert.equal(report.exportedJob, 'distill-s1');
  assert.equal(report.summary.distill!.testAcc.n, 1);
  assert.equal(report.summary.distill!.testAcc.mean, report.jobs['distill-s1'].last.testAcc);
  const lastTa = metricLines(runDir).filter((l) => l.type === 'epoch' && l.job === 'ta1-s1').pop()!;
  assert.ok(lastTa, 'the assistant trained');
  // The exported student is the student's architecture, not the assistant's.
  const exported = await paramsOf(path.join(runDir, 'student', 'model.json'));
  assert.equal(exported, await paramsOf(path.join(runDir, 'models', 'distill-s1', 'model.json')));
  assert.notEqual(exported, await paramsOf(path.join(runDir, 'models', 'ta1-s1', 'model.json')));
  assert.equal(report.student.params, exported);

  // A folder written before assistants carried `final: false`, where the assistant scored best:
  // the compare panel and the runs tree still speak for distill-s1.
  const runFile = path.join(runDir, 'run.json');
  const runJson = JSON.parse(fs.readFileSync(runFile, 'utf8')) as { jobs: Record<string, { final?: boolean }> };
  delete runJson.jobs['ta1-s1'].final;
  fs.writeFileSync(runFile, JSON.stringify(runJson, null, 2));
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const boosted = fs.readFileSync(metricsFile, 'utf8').split('\n').map((line) => {
    if (!line.trim()) return line;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (r.type === 'epoch' && r.job === 'ta1-s1') {
      r.testAcc = 1;
      if (r.valAcc !== undefined) r.valAcc = 1;
    }
    return JSON.stringify(r);
  });
  fs.writeFileSync(metricsFile, boosted.join('\n'));
  forgetRun(runDir);
  const view = readRunView(runDir)!;
  assert.equal(view.best?.job, 'distill-s1', `runs tree best: ${JSON.stringify(view.best)}`);
  const distillAcc = metricLines(runDir).filter((l) => l.type === 'epoch' && l.job === 'distill-s1').map((l) => l.testAcc);
  const compared = compareData([runDir], 'compare').runs[0];
  assert.deepEqual(compared.acc.value, distillAcc, 'compare panel: the distilled student\'s curve');
});

test('born-again: only the last generation is final, summarised and exported', async () => {
  const runDir = await run(imageExperiment({
    scheme: { kind: 'born-again', generations: 3 },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  }));
  const jobs = readRun(runDir).jobs;
  assert.deepEqual(Object.entries(jobs).map(([k, j]) => [k, j.final]),
    [['teacher', undefined], ['born-g1-s1', false], ['born-g2-s1', false], ['born-g3-s1', true]]);
  const report = readReport(runDir);
  assert.deepEqual(Object.keys(report.jobs), ['born-g3-s1']);
  assert.equal(report.summary.distill!.testAcc.n, 1);
  assert.equal(report.exportedJob, 'born-g3-s1');
  forgetRun(runDir);
  assert.equal(readRunView(runDir)!.best?.job, 'born-g3-s1');
});
