/**
 * issue 18: a student search end to end in the TF.js engine on synthetic 8×8 images — three width
 * candidates derived from a CNN teacher with Conv2D, one excluded by a params budget, the two
 * others trained by successive halving (2 rungs) — and the `figures` probe against hand-counted
 * parameters, and the `separable` check of a teacher without Conv2D.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runSweep } from '../../src/engine/sweep';
import { studentFigures } from '../../src/engine/search/figures';
import { createSweep, readSweep, sweepSummary } from '../../src/runs/sweeps';
import { sweepTable } from '../../src/cli/sweep';
import { initBackend } from '../../src/engine/backend';
import { checkExperiment } from '../../src/engine/check';
import type { Report } from '../../src/runs/report';
import { imageExperiment, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

/**
 * Params of the cnn of examples/models.ts on 8×8×1 (two 3×3 'same' convs, each pooled by 2, a
 * hidden Dense, 4 logits) with filters c1, c2 and d hidden units: 10·c1 + (9·c1·c2 + c2) + (4·c2·d + d) + (4·d + 4).
 */
const cnnParams = (c1: number, c2: number, d: number): number => 10 * c1 + 9 * c1 * c2 + c2 + 4 * c2 * d + d + 4 * d + 4;

void test('figures: a derived candidate measured as the report measures it', async () => {
  await initBackend('cpu');
  const dir = tempDir();
  const file = writeExperiment(dir, imageExperiment({ student: { derive: { width: 0.5 } } }));
  const f = await studentFigures(file);
  assert.equal(f.student.params, cnnParams(3, 4, 8)); // 314
  assert.equal(f.student.bytes, 4 * 314);
  assert.ok(f.student.latencyMsPerSample > 0 && f.student.flops > 0);
  assert.equal(f.swapped, 0);
  const text = JSON.stringify(imageExperiment({ student: { derive: { width: 0.5, swap: { Conv2D: 'SeparableConv2D' } } } }));
  const s = await studentFigures(file, text);
  assert.equal(s.swapped, 2);
  // separable: depthwise 9·Cin + pointwise Cin·Cout + Cout per conv
  assert.equal(s.student.params, (9 * 1 + 1 * 3 + 3) + (9 * 3 + 3 * 4 + 4) + (4 * 4 * 8 + 8) + (4 * 8 + 4));
});

void test('a 3-candidate search runs end to end: one over budget, two trained by successive halving, the chosen one in sweep.json and report.json', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, imageExperiment({
    name: 'search',
    student: { derive: {} },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    // widths 0.5 / 1 / 2: 314, 1096 and 4076 params; the budget excludes width 2
    search: { budget: { params: 2000 }, space: { width: [0.5, 1, 2] }, rungs: 2, objective: 'testAcc' },
  }, 128));
  const sweepDir = createSweep(file);
  const logs: string[] = [];
  const end = await runSweep(sweepDir, { backend: 'cpu', emit: (m) => { if (m.type === 'log') logs.push(m.message); } });
  assert.equal(end.status, 'completed', JSON.stringify(end.points.map((p) => [p.id, p.status, p.error])));
  const s = readSweep(sweepDir).search!;
  assert.deepEqual(s.candidates.map((c) => [c.id, c.params, c.fits]), [['c01', cnnParams(3, 4, 8), true], ['c02', cnnParams(6, 8, 16), true], ['c03', cnnParams(12, 16, 32), false]]);
  assert.equal(s.candidates[2].reason, 'params 4 076 > 2 000');
  assert.deepEqual(s.rungEpochs, [1, 2]); // rungs 2, eta 2, 2 epochs: 2/2, 2
  // rung 0: both fitting candidates for 1 epoch; rung 1: the better one (⌈2/2⌉) for 2 epochs
  const pts = end.points;
  assert.deepEqual(pts.map((p) => [p.id, p.rung, p.candidate]), [['p01', 0, 'c01'], ['p02', 0, 'c02'], ['p03', 1, pts[2].candidate]]);
  const scoreOf = (i: number): number => {
    const r = JSON.parse(fs.readFileSync(path.join(sweepDir, pts[i].runDir!, 'report.json'), 'utf8')) as Report;
    return r.jobs['distill-s1'].last.testAcc;
  };
  const [a, b] = [scoreOf(0), scoreOf(1)];
  const better = a >= b ? 'c01' : 'c02'; // a tie goes to fewer params: c01
  assert.equal(pts[2].candidate, better);
  assert.deepEqual(s.chosen, { candidate: better, point: 'p03' });
  assert.equal(s.candidates.find((c) => c.id !== better && c.fits)!.dropped, true);
  // every point an ordinary run with the rung's epochs and the candidate's width
  for (const [i, epochs] of [[0, 1], [1, 1], [2, 2]] as const) {
    const cfg = JSON.parse(fs.readFileSync(path.join(sweepDir, pts[i].runDir!, 'config.json'), 'utf8')) as { config: { training: { epochs: number }; student: { derive: { width: number } }; search?: unknown } };
    assert.equal(cfg.config.training.epochs, epochs);
    assert.equal(cfg.config.student.derive.width, pts[i].values['student.derive.width']);
    assert.equal(cfg.config.search, undefined);
  }
  // the teacher trained once, by the first point
  assert.equal(readSweep(sweepDir).teacher?.from, 'p01');
  const report = JSON.parse(fs.readFileSync(path.join(sweepDir, 'report.json'), 'utf8')) as { search: { chosen: unknown }; rows: { point: string; pareto: boolean }[] };
  assert.deepEqual(report.search.chosen, s.chosen);
  assert.deepEqual(report.rows.filter((r) => r.pareto).map((r) => r.point), ['p03']); // the front is the last rung's
  const text = sweepTable(sweepSummary(sweepDir));
  assert.match(text, /c03 .* no: params 4 076 > 2 000/);
  assert.match(text, new RegExp(`${better} .*★ chosen`));
  assert.match(logs.join('\n'), /rung 1\/2 \(1 epoch\)/);
  assert.match(logs.join('\n'), /Pareto front of the last rung/);
});

void test('separable needs a teacher with Conv2D: refused, located at search.space.separable', async () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    student: { derive: {} }, search: { budget: { params: 100000 }, space: { separable: [false, true] } },
  }));
  // `distill check` (and so `distill sweep` before it creates a folder) says it, located
  const problems = await checkExperiment(file, 'cpu');
  assert.deepEqual(problems.filter((e) => e.severity === 'error').map((e) => [e.path.join('.'), e.message.slice(0, 31)]),
    [['search.space.separable', 'the teacher has no Conv2D layer']]);
  // and the search process, when it measures the candidates
  const sweepDir = createSweep(file);
  await assert.rejects(runSweep(sweepDir, { backend: 'cpu' }),
    /exp\.distill\.json:\d+:\d+ +search\.space\.separable: the teacher has no Conv2D layer/);
  assert.equal(readSweep(sweepDir).status, 'failed');
});
