/**
 * Adversarial distillation (issue 18) in whole runs on synthetic 8×8 images: the discriminator's
 * loss and accuracy in every step record and their epoch means in every epoch record, in the
 * schemes that use knowledge terms (offline with a feature pair and labels-conditioned D,
 * born-again, a teacher-assistant chain); D is left out of the exported student; online is
 * refused before training, located at the entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runExperiment } from '../../src/engine/run';
import type { MetricRecord } from '../../src/runs/store';
import { readMetrics } from '../../src/runs/store';
import { DashboardBuilder } from '../../src/host/panels/panelData';
import { runFolderViolations } from '../helpers/runSchemas';
import { imageExperiment, studentCnn, tempDir, writeExperiment } from '../helpers/experiments';

type Step = Extract<MetricRecord, { type: 'step' }>;
type Epoch = Extract<MetricRecord, { type: 'epoch' }>;

const ADV = { kind: 'adversarial', weight: 0.5, learningRate: 0.01 };

function records(runDir: string, job: string) {
  const all = readMetrics(runDir);
  return {
    steps: all.filter((r): r is Step => r.type === 'step' && r.job === job),
    epochs: all.filter((r): r is Epoch => r.type === 'epoch' && r.job === job),
  };
}

test('offline: two adversarial terms (logits with labels, a feature pair) log D\'s loss and accuracy per step and per epoch; D is not exported', async () => {
  const knowledge = [
    { kind: 'response', method: 'kd', temperature: 4, weight: 0.5 },
    { ...ADV, conditional: true, temperature: 2 },
    { ...ADV, hidden: [8, 4], pairs: [{ teacher: 'conv_2', student: 'conv_2' }] },
  ];
  const r = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge })) });
  assert.equal(r.status, 'completed', r.error);
  const { steps, epochs } = records(r.runDir, 'distill-s1');
  assert.equal(steps.length, 3 * 6);
  for (const s of steps) {
    for (const term of ['adversarial', 'adversarial#2']) {
      const loss = s.params?.[`${term}.discLoss`];
      const acc = s.params?.[`${term}.discAcc`];
      assert.ok(loss !== undefined && Number.isFinite(loss) && loss > 0, `${term}.discLoss at step ${s.globalStep}: ${loss}`);
      assert.ok(acc !== undefined && acc >= 0 && acc <= 1, `${term}.discAcc at step ${s.globalStep}: ${acc}`);
      assert.ok(Number.isFinite(s.losses[term]) && s.losses[term] > 0, `${term} term at step ${s.globalStep}`);
    }
    assert.deepEqual(Object.keys(s.pairs ?? {}).sort(), ['adversarial#2']);
  }
  // every step is logged (logEvery 1), and all steps are full batches of 32: the epoch mean is the steps' mean
  assert.equal(epochs.length, 3);
  for (const e of epochs) {
    const mine = steps.filter((s) => s.epoch === e.epoch);
    for (const key of ['adversarial.discLoss', 'adversarial.discAcc', 'adversarial#2.discLoss', 'adversarial#2.discAcc']) {
      const mean = mine.reduce((a, s) => a + s.params![key], 0) / mine.length;
      assert.ok(Math.abs(e.extras![key] - mean) < 1e-6, `epoch ${e.epoch} ${key}: ${e.extras![key]} vs the steps' mean ${mean}`);
    }
  }
  // the dashboard charts them (the params series), and the run folder keeps to its schemas
  const points = new DashboardBuilder().points(readMetrics(r.runDir));
  const series = points.params?.find((s) => s.job === 'distill-s1' && s.term === 'adversarial.discAcc');
  assert.ok(series, 'an adversarial.discAcc series on the dashboard');
  assert.deepEqual(series.value, steps.map((s) => s.params!['adversarial.discAcc']));
  assert.deepEqual(runFolderViolations(r.runDir), []);
  // D learns: its loss moves off the start
  assert.notEqual(steps[0].params!['adversarial.discLoss'], steps[steps.length - 1].params!['adversarial.discLoss']);
  // the exported student is the student alone
  const exported = JSON.parse(fs.readFileSync(path.join(r.runDir, 'student', 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string }[] }[] };
  const names = exported.weightsManifest.flatMap((g) => g.weights.map((w) => w.name));
  assert.ok(names.length > 0 && !names.some((n) => n.includes('discriminator') || n.includes('adapter')), names.join(', '));
  // ...while the checkpoints carry D, its Adam moments and its state
  const extrasJson = fs.readdirSync(path.join(r.runDir, 'checkpoints', 'distill-s1')).map((d) => path.join(r.runDir, 'checkpoints', 'distill-s1', d, 'extras.json'))[0];
  const models = (JSON.parse(fs.readFileSync(extrasJson, 'utf8')) as { models: string[] }).models;
  for (const k of [1, 2]) {
    for (const suffix of ['discriminator', 'discriminator_adam_m', 'discriminator_adam_v', 'discriminator_state']) {
      assert.ok(models.includes(`adapter_distill-s1_k${k}_${suffix}`), `${suffix} of entry ${k} in ${models.join(', ')}`);
    }
  }
});

test('born-again and a teacher-assistant chain: every distilled generation and stage trains its own discriminator', async () => {
  const knowledge = [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.5 }, ADV];
  for (const scheme of [{ kind: 'born-again', generations: 2 }, { kind: 'ta-chain', assistants: [studentCnn] }]) {
    const r = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge, scheme, training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 } })) });
    assert.equal(r.status, 'completed', `${scheme.kind}: ${r.error}`);
    const jobs = [...new Set(readMetrics(r.runDir).filter((m): m is Step => m.type === 'step' && m.losses.adversarial !== undefined).map((m) => m.job))];
    assert.equal(jobs.length, 2, `${scheme.kind}: two distilled jobs with the term (${jobs.join(', ')})`);
    for (const job of jobs) {
      const { steps, epochs } = records(r.runDir, job);
      assert.ok(steps.every((s) => Number.isFinite(s.params?.['adversarial.discLoss'])), `${scheme.kind} ${job}: discLoss in every step`);
      assert.ok(Number.isFinite(epochs[0].extras?.['adversarial.discAcc']), `${scheme.kind} ${job}: the epoch mean`);
    }
  }
});

test('a discriminator that wins (a fast D on paired features the student barely answers) is the discriminator-wins warning of report.json', async () => {
  const knowledge = [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 },
    { kind: 'adversarial', weight: 1e-6, learningRate: 0.05, pairs: [{ teacher: 'conv_2', student: 'conv_2' }] }];
  const r = await runExperiment({ experiment: writeExperiment(tempDir(), imageExperiment({ knowledge })) });
  assert.equal(r.status, 'completed', r.error);
  const won = records(r.runDir, 'distill-s1').epochs.filter((e) => e.extras!['adversarial.discAcc'] >= 0.99).map((e) => e.epoch);
  assert.ok(won.length > 0, 'the setting makes D win');
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as { warnings: { kind: string; message: string }[] };
  const w = report.warnings.find((x) => x.kind === 'discriminator-wins');
  assert.ok(w, JSON.stringify(report.warnings));
  for (const e of won) assert.ok(w.message.includes(`distill-s1 epoch ${e} (adversarial)`), w.message);
  assert.deepEqual(runFolderViolations(r.runDir), []);
});

test('online: an adversarial entry is refused before training, located at the entry', async () => {
  const exp = imageExperiment({
    knowledge: [ADV], scheme: { kind: 'online', peers: 2, temperature: 2 },
    teacher: { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [6, 8], dense: 16, classes: 4 } },
  });
  await assert.rejects(runExperiment({ experiment: writeExperiment(tempDir(), exp) }), /:\d+:\d+  knowledge\[0\]: adversarial: scheme "online"/);
});
