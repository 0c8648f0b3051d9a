/**
 * issue 18: the Sweep panel showing a student search — the rung and candidate columns, dropped
 * candidates greyed, the chosen student marked in the table and the scatter, the budget as a line
 * (and the region over it as a band) on the size axis, the front of the last rung only — and the
 * same panel data computed from a real search folder (src/host/panels/sweepData.ts).
 * Screenshot: test-output/webview/sweep-search.png.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { SweepPanelData, SweepPointView } from '../../src/protocol/webviews';
import { sweepPanelData } from '../../src/host/panels/sweepData';
import { createSweep, updateSweep } from '../../src/runs/sweeps';
import { syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';
import { close, launch, OUT, openPanel, REPO, waitFor } from './harness';

before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', 'sweep.js')), 'run `npm run build` first (dist/webview/sweep.js)');
  await launch();
});
after(close);

const stat = (mean: number) => ({ mean, std: 0, n: 1 });
const W = 'student.derive.width';

function point(id: string, rung: number, candidate: string, width: number, params: number, acc: number, rest: Partial<SweepPointView> = {}): SweepPointView {
  return { id, values: { [W]: width }, status: 'completed', state: 'completed', hasRun: true, params, bytes: 4 * params,
    distilled: stat(acc), pareto: { params: false, bytes: false }, rung, candidate, ...rest };
}

/** Three fitting candidates (c01–c03; c04 over the budget was never trained): rung 1 all three, rung 2 the best two. */
function fixture(): SweepPanelData {
  return {
    title: 'mnist-search · sweep 20261202-150000', name: 'mnist-search', id: '20261202-150000', state: 'completed', seeds: [1],
    axes: { [W]: [0.125, 0.25, 0.5, 1] },
    teacher: { params: 420_000, bytes: 1_680_000, testAcc: 0.99 },
    search: { budget: { params: 50_000 }, rungEpochs: [2, 4], objective: 'valAcc', against: 'params', chosen: 'p05' },
    points: [
      point('p01', 0, 'c01', 0.125, 6_800, 0.85, { dropped: true }),
      point('p02', 0, 'c02', 0.25, 26_700, 0.9),
      point('p03', 0, 'c03', 0.5, 45_000, 0.91),
      point('p04', 1, 'c02', 0.25, 26_700, 0.95, { pareto: { params: true, bytes: true } }),
      point('p05', 1, 'c03', 0.5, 45_000, 0.96, { pareto: { params: true, bytes: true }, chosen: true }),
    ],
  };
}

test('sweep panel, a search: rungs, dropped greyed, the chosen marked, the budget on the size axis', async () => {
  const p = await openPanel('sweep');
  await p.send({ type: 'init', panel: 'sweep', target: { runDirs: ['/sweep'], title: 't' }, data: fixture() });
  await p.page.waitForSelector('#points tbody tr');
  assert.match(await p.page.textContent('#search') ?? '', /Student search: budget params ≤ 50,?000; successive halving over 2 rungs \(2, 4 epochs\), ranked by valAcc; chosen: p05/);

  const head = await p.page.$$eval('#points thead th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(head.slice(0, 4), ['point', 'rung', 'candidate', W]);
  const rows = await p.page.$$eval('#points tbody tr', (trs) => trs.map((tr) => ({
    id: tr.getAttribute('data-point'), cls: tr.className, cells: Array.from(tr.children).map((c) => c.textContent?.trim()) })));
  assert.deepEqual(rows.map((r) => r.cells[1]), ['1/2 (2 ep)', '1/2 (2 ep)', '1/2 (2 ep)', '2/2 (4 ep)', '2/2 (4 ep)']);
  assert.deepEqual(rows.map((r) => r.cells[2]), ['c01', 'c02', 'c03', 'c02', 'c03']);
  assert.deepEqual(rows.map((r) => r.cells[r.cells.length - 1]), ['dropped', '', '', '', '★ chosen']);
  assert.deepEqual(rows.map((r) => r.cells[r.cells.length - 2]), ['', '', '', '◆', '◆']);
  assert.ok(rows[0].cls.includes('dropped') && !rows[1].cls.includes('dropped'));
  assert.ok(rows[4].cls.includes('chosen'));
  // greyed: the dropped row and its dot are drawn at reduced opacity
  assert.equal(await p.page.$eval('#points tbody tr[data-point="p01"]', (e) => getComputedStyle(e).opacity), '0.4');
  assert.equal(await p.page.$eval('#scatter .dot[data-point="p01"]', (e) => getComputedStyle(e).opacity), '0.4');
  assert.equal(await p.page.$eval('#parallel .pline[data-point="p01"]', (e) => getComputedStyle(e).opacity), '0.4');
  assert.ok(await p.page.$eval('#scatter .dot[data-point="p05"]', (e) => e.classList.contains('chosen')));
  assert.match(await p.page.textContent('#scatter .dot[data-point="p05"] .dot-label') ?? '', /p05 r2 ★/);

  // the budget: a line at 50 000 on the log params axis, between the 45 000 points and the right end; the band right of it
  const x = async (id: string) => Number(await p.page.getAttribute(`#scatter .dot[data-point="${id}"] circle`, 'cx'));
  const bx = Number(await p.page.getAttribute('#budget', 'x1'));
  const [x1, x2, x3] = [await x('p01'), await x('p02'), await x('p03')];
  // log scale: the distances are in the ratio of the logarithms of the size ratios
  const expected = x2 + (x3 - x2) * Math.log(50_000 / 26_700) / Math.log(45_000 / 26_700);
  assert.ok(Math.abs(bx - expected) < 0.5, `budget at ${bx}, expected ${expected}`);
  assert.ok(x1 < x2 && x3 < bx);
  assert.equal(Number(await p.page.getAttribute('#over-budget', 'x')), bx);
  assert.match(await p.page.textContent('#scatter') ?? '', /budget 50/);
  assert.equal(await p.page.getAttribute('#pareto-front', 'data-points'), 'p04 p05');

  // bytes axis: the budget has no bytes bound, so no line
  await p.page.click('#size-bytes');
  await waitFor(p.page, async () => /bytes \(log scale\)/.test(await p.page.textContent('#scatter') ?? ''), 'the bytes axis');
  assert.equal(await p.page.$('#budget'), null);
  assert.deepEqual(p.errors, []);
  await p.page.click('#size-params');
  await waitFor(p.page, async () => (await p.page.$('#budget')) !== null, 'the budget line again');
  const png = await p.screenshot();
  fs.renameSync(png, path.join(OUT, 'sweep-search.png'));
});

test('the panel data of a search folder: rung, candidate, dropped, chosen; the front among the last rung', () => {
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ student: { derive: {} }, search: { budget: { params: 1000 }, space: { width: [0.25, 0.5] } } }));
  const sweepDir = createSweep(file);
  // a finished search as sweep.json records it, with the two points' reports
  updateSweep(sweepDir, (s) => {
    s.search!.rungEpochs = [1, 2];
    s.search!.candidates = [
      { id: 'c01', values: { [W]: 0.25 }, params: 300, bytes: 1200, latencyMs: 0.1, fits: true, rung: 0, score: 0.5, dropped: true },
      { id: 'c02', values: { [W]: 0.5 }, params: 600, bytes: 2400, latencyMs: 0.1, fits: true, rung: 1, score: 0.8 },
    ];
    s.search!.chosen = { candidate: 'c02', point: 'p03' };
    s.points = [
      { id: 'p01', values: { [W]: 0.25 }, status: 'completed', rung: 0, candidate: 'c01', runDir: 'runs/a' },
      { id: 'p02', values: { [W]: 0.5 }, status: 'completed', rung: 0, candidate: 'c02', runDir: 'runs/b' },
      { id: 'p03', values: { [W]: 0.5 }, status: 'completed', rung: 1, candidate: 'c02', runDir: 'runs/c' },
    ];
  });
  const report = (params: number, acc: number) => JSON.stringify({ student: { params, bytes: 4 * params, flops: 1, latencyMsPerSample: 1 },
    jobs: { 'distill-s1': { kind: 'distill', seed: 1, last: { epoch: 1, testAcc: acc, testErrors: 0 }, best: { epoch: 1, testAcc: acc, testErrors: 0 } } } });
  for (const [d, params, acc] of [['a', 300, 0.5], ['b', 600, 0.6], ['c', 600, 0.8]] as const) {
    fs.mkdirSync(path.join(sweepDir, 'runs', d), { recursive: true });
    fs.writeFileSync(path.join(sweepDir, 'runs', d, 'report.json'), report(params, acc));
  }
  const d = sweepPanelData(sweepDir);
  assert.deepEqual(d.search, { budget: { params: 1000 }, rungEpochs: [1, 2], objective: 'valAcc', against: 'params', chosen: 'p03' });
  assert.deepEqual(d.points.map((p) => [p.id, p.rung, p.candidate, p.dropped ?? false, p.chosen ?? false, p.pareto.params]), [
    ['p01', 0, 'c01', true, false, false], // smaller than p03, but a rung-0 point: not on the last rung's front
    ['p02', 0, 'c02', false, false, false],
    ['p03', 1, 'c02', false, true, true],
  ]);
});
