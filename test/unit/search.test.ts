/**
 * issue 18, the student search: its plan (src/runs/search.ts) against hand-computed and brute-force
 * answers, its rules (src/config/searchRules.ts), and the search process (src/engine/search.ts)
 * driven with a seeded fake objective and fake figures — no training — including a search killed
 * mid-rung and resumed from sweep.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { parseExperimentText } from '../../src/config/parse';
import {
  budgetReason, defaultRungs, finalFront, planCandidates, rank, rungEpochs, searchPointText, survivors,
} from '../../src/runs/search';
import { createSweep, readSweep, sweepSummary, updateSweep } from '../../src/runs/sweeps';
import { runSearchLocked } from '../../src/engine/search';
import type { RunResult } from '../../src/engine/run';
import { sweepTable } from '../../src/cli/sweep';
import { mulberry32 } from '../../src/engine/training/random';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

/** The seeded generator of the fake objective (the engine's mulberry32; only inputs come from it). */
const rng = mulberry32;

/**
 * The survivors by the definition, independently of rank(): a candidate goes on when fewer than
 * ⌈n/eta⌉ others beat it (higher score; equal score and fewer params; equal both and earlier id).
 */
function bruteSurvivors(entries: { candidate: string; score: number; params: number }[], eta: number): string[] {
  const k = Math.ceil(entries.length / eta);
  const beats = (o: typeof entries[number], e: typeof entries[number]): boolean =>
    o.score > e.score || (o.score === e.score && (o.params < e.params || (o.params === e.params && o.candidate < e.candidate)));
  return entries.filter((e) => entries.filter((o) => o !== e && beats(o, e)).length < k).map((e) => e.candidate).sort();
}

void test('candidates: the product of the space in order width, depth, separable; ids c01…', () => {
  const c = planCandidates({ separable: [false, true], width: [0.5, 1] });
  assert.deepEqual(c.map((x) => x.id), ['c01', 'c02', 'c03', 'c04']);
  assert.deepEqual(c.map((x) => x.values), [
    { 'student.derive.width': 0.5, 'student.derive.swap.Conv2D': 0 },
    { 'student.derive.width': 0.5, 'student.derive.swap.Conv2D': 1 },
    { 'student.derive.width': 1, 'student.derive.swap.Conv2D': 0 },
    { 'student.derive.width': 1, 'student.derive.swap.Conv2D': 1 },
  ]);
  assert.equal(planCandidates({ width: Array.from({ length: 120 }, (_, i) => (i + 1) / 120) })[0].id, 'c001');
});

void test('rungs: R = ⌈log_eta n⌉ (at least 1), epochs max(1, round(E / eta^(R−1−r)))', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 8, 9].map((n) => defaultRungs(n, 2)), [1, 1, 2, 2, 3, 3, 4]);
  assert.deepEqual([1, 3, 4, 9, 10, 27].map((n) => defaultRungs(n, 3)), [1, 1, 2, 2, 3, 3]);
  assert.deepEqual(rungEpochs(9, 3, 3), [1, 3, 9]);
  assert.deepEqual(rungEpochs(10, 2, 3), [3, 5, 10]); // 10/4 = 2.5 rounds to 3
  assert.deepEqual(rungEpochs(2, 2, 4), [1, 1, 1, 2]); // never below one epoch
  assert.deepEqual(rungEpochs(5, 2, 1), [5]);
});

void test('the budget filter: every broken bound in the reason', () => {
  assert.equal(budgetReason({ params: 50000 }, { params: 50000, bytes: 1, latencyMs: 1 }), undefined);
  assert.equal(budgetReason({ params: 50000 }, { params: 61210, bytes: 1, latencyMs: 1 }), 'params 61 210 > 50 000');
  assert.equal(budgetReason({ bytes: 1000, latencyMs: 0.5 }, { params: 1, bytes: 4000, latencyMs: 0.75 }),
    'bytes 4 000 > 1 000, latency 0.750 ms > 0.5 ms');
  assert.equal(budgetReason({ latencyMs: 0.5 }, { params: 1e9, bytes: 1e9, latencyMs: 0.2 }), undefined);
});

void test('successive halving keeps the ⌈n/eta⌉ best on a seeded fake objective (ties: fewer params, then order)', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 12);
    const eta = 2 + Math.floor(r() * 3);
    // coarse scores and params, so ties of both happen
    const entries = Array.from({ length: n }, (_, i) => ({
      candidate: `c${String(i + 1).padStart(2, '0')}`, score: Math.round(r() * 4) / 4, params: 100 * (1 + Math.floor(r() * 3)),
    }));
    assert.deepEqual([...survivors(entries, eta)].sort(), bruteSurvivors(entries, eta), `seed ${seed}`);
    assert.equal(survivors(entries, eta).length, Math.ceil(n / eta));
  }
  // a hand-made case: c02 and c03 tie on score, c03 has fewer params; c01 and c04 tie on both: order
  const e = [
    { candidate: 'c01', score: 0.5, params: 10 }, { candidate: 'c02', score: 0.9, params: 30 },
    { candidate: 'c03', score: 0.9, params: 20 }, { candidate: 'c04', score: 0.5, params: 10 }, { candidate: 'c05', score: 0.1, params: 1 },
  ];
  assert.deepEqual(rank(e).map((x) => x.candidate), ['c03', 'c02', 'c01', 'c04', 'c05']);
  assert.deepEqual(survivors(e, 2), ['c03', 'c02', 'c01']);
});

void test('the chosen candidate: the best of the last rung on its front of score against the size axis', () => {
  const cand = (id: string, params: number, latencyMs: number, score: number) =>
    ({ id, values: {}, params, bytes: 4 * params, latencyMs, fits: true, rung: 1, score });
  const state = {
    budget: { params: 1000 }, objective: 'testAcc' as const, against: 'latency' as const, eta: 2, rungEpochs: [1, 2],
    candidates: [cand('c01', 500, 0.2, 0.9), cand('c02', 400, 0.1, 0.9), cand('c03', 100, 0.3, 0.8), { ...cand('c04', 50, 0.05, 0.99), rung: 0 }],
  };
  // against latency: c02 (0.1 ms, 0.9) dominates c01 (0.2 ms, 0.9); c03 is slower and worse than c02; c04 stopped at rung 0
  const f = finalFront(state);
  assert.deepEqual(f.rows.map((r) => [r.id, r.pareto]), [['c01', false], ['c02', true], ['c03', false]]);
  assert.equal(f.chosen, 'c02');
});

void test('a search point\'s text: derive values, separable as a swap, the rung\'s epochs, no search', () => {
  const text = JSON.stringify(syntheticExperiment({ student: { derive: { width: 1, swap: { Conv2D: 'SeparableConv2D' } } }, search: { budget: { params: 1 }, space: { width: [1] } } }));
  const t0 = JSON.parse(searchPointText(text, { 'student.derive.width': 0.25, 'student.derive.swap.Conv2D': 0 }, 3, [1, 2])) as { student: unknown; training: { epochs: number }; seeds: number[]; search?: unknown; teacher?: unknown };
  assert.deepEqual(t0.student, { derive: { width: 0.25 } });
  assert.equal(t0.training.epochs, 3);
  assert.deepEqual(t0.seeds, [1, 2]);
  assert.equal(t0.search, undefined);
  const t1 = JSON.parse(searchPointText(text, { 'student.derive.depth': 0.5, 'student.derive.swap.Conv2D': 1 }, 1, [1], '/t/model.json')) as { student: unknown; training: { epochs: number }; seeds: number[]; search?: unknown; teacher?: unknown };
  assert.deepEqual(t1.student, { derive: { width: 1, swap: { Conv2D: 'SeparableConv2D' }, depth: 0.5 } });
  assert.deepEqual(t1.teacher, { model: '/t/model.json' });
});

void test('search rules: a derived student, a bound, no sweep, valAcc with a validation split, ranges — located', () => {
  const problems = (exp: Record<string, unknown>): string[] =>
    parseExperimentText(JSON.stringify(exp, null, 2), '/x/exp.distill.json').errors.filter((e) => e.severity === 'error').map((e) => `${e.path.join('.')}: ${e.message}`);
  const base = { student: { derive: {} } };
  const search = { budget: { params: 1000 }, space: { width: [0.5, 1] } };
  assert.deepEqual(problems(syntheticExperiment({ ...base, search })), []);
  assert.match(problems(syntheticExperiment({ search })).join('\n'), /^student: a search derives its candidates from the teacher: the student must be \{ "derive": … \}/);
  assert.match(problems(syntheticExperiment({ ...base, search: { ...search, budget: {} } })).join('\n'), /^search\.budget: expected at least one bound/);
  assert.match(problems(syntheticExperiment({ ...base, search, sweep: { 'student.derive.width': [0.5] } })).join('\n'), /search: a search and a sweep cannot be run together/);
  const noVal = syntheticExperiment({ ...base, search: { ...search, objective: 'valAcc' } });
  delete (noVal.data as Record<string, unknown>).validation;
  assert.match(problems(noVal).join('\n'), /^search\.objective: objective "valAcc" needs a validation split/);
  assert.match(problems(syntheticExperiment({ ...base, search: { ...search, eta: 1 } })).join('\n'), /^search\.eta: /);
  assert.match(problems(syntheticExperiment({ ...base, search: { ...search, space: { depth: [0.5, 1.5] } } })).join('\n'), /^search\.space\.depth\.1: /);
  assert.match(problems(syntheticExperiment({ ...base, search: { ...search, space: { width: [0] } } })).join('\n'), /^search\.space\.width\.0: /);
  // defaults: eta 2, objective valAcc with a validation split
  const ok = parseExperimentText(JSON.stringify(syntheticExperiment({ ...base, search })), '/x/exp.distill.json').config!;
  assert.equal(ok.search!.eta, 2);
});

// ---------------------------------------------------------------------------------------------
// The search process with a fake objective

/** Fake figures: params = round(1000·width²·depth), bytes 4·params, latency params/1000 ms. */
const fakeFigures = async (_file: string, text: string) => {
  const d = (JSON.parse(text) as { student: { derive: { width?: number; depth?: number } } }).student.derive;
  const params = Math.round(1000 * (d.width ?? 1) ** 2 * (d.depth ?? 1));
  return { student: { params, bytes: 4 * params, flops: 2 * params, latencyMsPerSample: params / 1000 }, swapped: 0 };
};

/** The seeded objective of a candidate trained for `epochs`: quantised, so ties happen. */
const objective = (values: Record<string, number>, epochs: number): number =>
  Math.round(rng(Math.round(values['student.derive.width'] * 1000 + values['student.derive.depth'] * 100 + epochs * 7))() * 8) / 8;

/** A fake point runner: the report a run would write, scored by the objective at the epochs in the point's text. */
function fakeRunner(calls: string[], killAt?: string) {
  return async (dir: string, i: number): Promise<RunResult> => {
    const s = readSweep(dir);
    const p = s.points[i];
    calls.push(p.id);
    if (p.id === killAt) throw new Error('killed');
    const text = searchPointText(s.experimentText, p.values, s.search!.rungEpochs[p.rung!], s.seeds);
    const epochs = (JSON.parse(text) as { training: { epochs: number } }).training.epochs;
    const runDir = path.join(dir, 'runs', 'fake', p.id);
    fs.mkdirSync(runDir, { recursive: true });
    const valAcc = objective(p.values, epochs);
    fs.writeFileSync(path.join(runDir, 'report.json'), JSON.stringify({
      jobs: { 'distill-s1': { kind: 'distill', seed: 1, last: { epoch: epochs, testAcc: 0.5, testErrors: 0, valAcc }, best: { epoch: epochs, testAcc: 0.5, testErrors: 0 } } },
      student: { params: 1, bytes: 4, flops: 2, latencyMsPerSample: 1 },
    }));
    updateSweep(dir, (w) => {
      w.points[i].status = 'completed';
      w.points[i].runDir = path.relative(dir, runDir);
    });
    return { status: 'completed', runDir } as RunResult;
  };
}

function searchExperiment(): string {
  const dir = tempDir();
  return writeExperiment(dir, syntheticExperiment({
    student: { derive: {} },
    training: { epochs: 4, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    search: { budget: { params: 600 }, space: { width: [0.25, 0.5, 1], depth: [0.5, 1] }, eta: 2, objective: 'valAcc' },
  }));
}

/** The whole search by hand: the fitting candidates, then per rung the brute-force survivors. */
function expectedSearch(): { rungs: string[][]; chosen: string } {
  const cands = planCandidates({ width: [0.25, 0.5, 1], depth: [0.5, 1] }).map((c) => ({
    ...c, params: Math.round(1000 * c.values['student.derive.width'] ** 2 * c.values['student.derive.depth']),
  }));
  const fit = cands.filter((c) => c.params <= 600); // width 1 depth 1 (1000) does not fit
  assert.equal(fit.length, 5);
  const epochs = [1, 2, 4]; // R = ⌈log2 5⌉ = 3, E = 4: 4/4, 4/2, 4
  let ids = fit.map((c) => c.id);
  const rungs: string[][] = [];
  let chosen = '';
  for (let r = 0; r < 3; r++) {
    rungs.push(ids);
    const entries = ids.map((id) => { const c = cands.find((x) => x.id === id)!; return { candidate: id, score: objective(c.values, epochs[r]), params: c.params }; });
    if (r < 2) ids = cands.map((c) => c.id).filter((id) => bruteSurvivors(entries, 2).includes(id));
    else chosen = entries.filter((e) => bruteSurvivors(entries, entries.length).includes(e.candidate))[0].candidate;
  }
  return { rungs, chosen };
}

void test('the search process: measured candidates, rung by rung with the brute-force survivors, the chosen one, report.json', async () => {
  const file = searchExperiment();
  const dir = createSweep(file);
  assert.deepEqual(readSweep(dir).points, []);
  const calls: string[] = [];
  const logs: string[] = [];
  const end = await runSearchLocked(dir, { figures: fakeFigures, emit: (m) => { if (m.type === 'log') logs.push(m.message); } }, fakeRunner(calls));
  const want = expectedSearch();
  assert.equal(end.status, 'completed');
  const s = end.search!;
  assert.deepEqual(s.rungEpochs, [1, 2, 4]);
  assert.deepEqual(s.candidates.map((c) => [c.id, c.fits, c.reason]), [
    ['c01', true, undefined], ['c02', true, undefined], ['c03', true, undefined], ['c04', true, undefined], ['c05', true, undefined],
    ['c06', false, 'params 1 000 > 600'],
  ]);
  for (let r = 0; r < 3; r++) assert.deepEqual(end.points.filter((p) => p.rung === r).map((p) => p.candidate), want.rungs[r], `rung ${r}`);
  assert.equal(s.chosen!.candidate, want.chosen);
  assert.equal(end.points.find((p) => p.id === s.chosen!.point)!.candidate, want.chosen);
  assert.deepEqual(end.points.map((p) => p.id), calls);
  // dropped: the ones that did not go on
  for (const c of s.candidates.filter((x) => x.fits)) {
    const top = want.rungs.findIndex((ids) => !ids.includes(c.id)) - 1;
    assert.equal(c.rung, top === -2 ? 2 : top, c.id);
    assert.equal(c.dropped ?? false, top !== -2, c.id);
  }
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as { search: { chosen: { candidate: string } } };
  assert.equal(report.search.chosen.candidate, want.chosen);
  const text = sweepTable(sweepSummary(dir));
  assert.match(text, /search candidates:/);
  assert.match(text, new RegExp(`${want.chosen} .*★ chosen`));
  assert.match(logs.join('\n'), /rung 1\/3 \(1 epoch\)[\s\S]*continues[\s\S]*dropped/);
});

void test('a search killed mid-rung resumes: completed points skipped, the next rung planned from the results on disk', async () => {
  const file = searchExperiment();
  const dir = createSweep(file);
  const first: string[] = [];
  // rung 0 has p01–p05, rung 1 three points p06–p08: killed at p07
  await assert.rejects(runSearchLocked(dir, { figures: fakeFigures }, fakeRunner(first, 'p07')), /killed/);
  assert.deepEqual(first, ['p01', 'p02', 'p03', 'p04', 'p05', 'p06', 'p07']);
  updateSweep(dir, (s) => { s.points[6].status = 'running'; }); // as a killed process leaves it
  let measured = 0;
  const second: string[] = [];
  const end = await runSearchLocked(dir, { figures: async (f, t) => { measured++; return fakeFigures(f, t); } }, fakeRunner(second));
  assert.equal(measured, 0, 'the candidates are not measured again');
  assert.deepEqual(second, ['p07', 'p08', 'p09', 'p10']);
  const want = expectedSearch();
  assert.equal(end.search!.chosen!.candidate, want.chosen);
  for (let r = 0; r < 3; r++) assert.deepEqual(end.points.filter((p) => p.rung === r).map((p) => p.candidate), want.rungs[r]);
});

void test('no candidate fits: refused, located at the budget, the sweep failed', async () => {
  const dir0 = tempDir();
  const file = writeExperiment(dir0, syntheticExperiment({
    student: { derive: {} }, search: { budget: { params: 10 }, space: { width: [0.5, 1] } },
  }));
  const dir = createSweep(file);
  await assert.rejects(runSearchLocked(dir, { figures: fakeFigures }, fakeRunner([])),
    /search\.budget: no candidate fits the budget \(c01: params 250 > 10; c02: params 1 000 > 10\)/);
  assert.equal(readSweep(dir).status, 'failed');
});

void test('more candidates than --max-points need --yes, located at search.space', () => {
  const file = writeExperiment(tempDir(), syntheticExperiment({
    student: { derive: {} }, search: { budget: { params: 600 }, space: { width: [0.25, 0.5, 1], depth: [0.5, 1] } },
  }));
  assert.throws(() => createSweep(file, { maxPoints: 5 }), /search\.space: the search has 6 candidates, .*more than 5, so it needs confirmation — run it with --yes/);
  assert.equal(readSweep(createSweep(file, { maxPoints: 5, yes: true })).search!.eta, 2);
});
