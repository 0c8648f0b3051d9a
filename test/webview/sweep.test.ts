/**
 * The Sweep panel's bundle (dist/webview/sweep.js) in Chromium with a fake host, inside the real
 * HTML shell and CSP: the table with live status, accuracy against size on a log axis with the
 * Pareto front (switchable to bytes), parallel coordinates, hover highlighting across the three,
 * and every way of clicking a point posting `openPoint`. Screenshot: test-output/webview/sweep.png.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { SweepPanelData, SweepPointView } from '../../src/protocol/webviews';
import { close, launch, openPanel, REPO, waitFor } from './harness';

before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', 'sweep.js')), 'run `npm run build` first (dist/webview/sweep.js)');
  await launch();
});
after(close);

const stat = (mean: number, std = 0.004) => ({ mean, std, n: 2 });

function point(id: string, width: number, epochs: number, rest: Partial<SweepPointView>): SweepPointView {
  return { id, values: { 'student.derive.width': width, 'training.epochs': epochs }, status: 'completed', state: 'completed', hasRun: true, pareto: { params: false, bytes: false }, ...rest };
}

/** Sizes 100, 1 000, 10 000 parameters (log-equidistant); by bytes the order is different. */
function fixture(): SweepPanelData {
  return {
    title: 'mnist-kd · sweep 20260101-120000', name: 'mnist-kd', id: '20260101-120000', state: 'running', seeds: [1, 2],
    axes: { 'student.derive.width': [0.25, 0.5, 1], 'training.epochs': [2, 4] },
    teacher: { params: 100_000, bytes: 400_000, testAcc: 0.97 },
    points: [
      point('p01', 0.25, 2, { params: 100, bytes: 40_000, distilled: stat(0.81), scratch: stat(0.78), pareto: { params: true, bytes: false } }),
      point('p02', 0.5, 2, { params: 1_000, bytes: 4_000, distilled: stat(0.9), scratch: stat(0.86), pareto: { params: true, bytes: true } }),
      point('p03', 1, 2, { params: 10_000, bytes: 8_000, distilled: stat(0.88), scratch: stat(0.85), pareto: { params: false, bytes: false } }),
      point('p04', 1, 4, { status: 'running', state: 'running', progress: { done: 3, total: 8 }, hasRun: true }),
      point('p05', 0.25, 4, { status: 'queued', state: 'pending', hasRun: false }),
    ],
  };
}

const cspErrors = (errors: string[]) => errors.filter((e) => /Content Security Policy|Refused to/i.test(e));

test('sweep panel: table, log-x scatter with the front, parallel coordinates, hover and click', async () => {
  const p = await openPanel('sweep');
  const posted = async () => (await p.posted()).filter((m) => m.type === 'openPoint').map((m) => m.point);
  await p.send({ type: 'init', panel: 'sweep', target: { runDirs: ['/sweep'], title: 't' }, data: fixture() });
  await p.page.waitForSelector('#points tbody tr');
  assert.match(await p.page.textContent('#title') ?? '', /Sweep: mnist-kd · sweep 20260101-120000/);
  assert.match(await p.page.textContent('#status') ?? '', /5 points \(3 completed, 1 running, 1 queued\)/);

  // the table: one row per point, live status with progress, means ± std, the front marked
  const rows = await p.page.$$eval('#points tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((c) => c.textContent?.trim())));
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.map((r) => r[0]), ['p01', 'p02', 'p03', 'p04', 'p05']);
  assert.deepEqual(rows.map((r) => r[3]), ['completed', 'completed', 'completed', 'running 3/8 epochs', 'queued']);
  assert.equal(rows[1][6], '90.0 % ± 0.40');
  assert.deepEqual(rows.map((r) => r[r.length - 1]), ['◆', '◆', '', '', '']);
  assert.equal(rows[0].length, 9, 'no agreement column: no point measured it');

  // the scatter: measured points only; log x — equal ratios are equal distances
  const dots = async () => p.page.$$eval('#scatter .dot', (gs) => gs.map((g) => ({
    id: g.getAttribute('data-point'), x: Number(g.querySelector('circle')!.getAttribute('cx')), pareto: g.classList.contains('pareto') })));
  let ds = await dots();
  assert.deepEqual(ds.map((d) => d.id), ['p01', 'p02', 'p03']);
  const gap1 = ds[1].x - ds[0].x;
  const gap2 = ds[2].x - ds[1].x;
  assert.ok(gap1 > 50 && Math.abs(gap1 - gap2) < 0.5, `log axis: ${gap1} vs ${gap2}`);
  assert.deepEqual(ds.map((d) => d.pareto), [true, true, false]);
  assert.equal(await p.page.getAttribute('#pareto-front', 'data-points'), 'p01 p02');
  assert.match(await p.page.textContent('#scatter') ?? '', /parameters \(log scale\)/);
  assert.match(await p.page.textContent('#scatter') ?? '', /teacher 97\.0 %/);

  // switch to bytes: another front, another order on x, remembered in the webview state
  await p.page.click('#size-bytes');
  await waitFor(p.page, async () => /bytes \(log scale\)/.test(await p.page.textContent('#scatter') ?? ''), 'the bytes axis');
  ds = await dots();
  const byId = new Map(ds.map((d) => [d.id, d]));
  assert.ok(byId.get('p02')!.x < byId.get('p03')!.x && byId.get('p03')!.x < byId.get('p01')!.x, 'ordered by bytes');
  assert.equal(await p.page.getAttribute('#pareto-front', 'data-points'), 'p02');
  assert.deepEqual(await p.page.$$eval('#points tbody tr', (trs) => trs.map((tr) => tr.lastElementChild!.textContent)), ['', '◆', '', '', '']);
  assert.deepEqual(await p.page.evaluate(() => (window as unknown as { __state: { ui: unknown } }).__state.ui), { metric: 'bytes' });

  // parallel coordinates: swept fields then metrics; a line per point (queued ones through their swept values)
  const axes = await p.page.$$eval('#parallel .paxis', (gs) => gs.map((g) => g.getAttribute('data-axis')));
  assert.deepEqual(axes, ['student.derive.width', 'training.epochs', 'distilled', 'scratch', 'params', 'bytes']);
  const lines = await p.page.$$eval('#parallel .pline', (gs) => gs.map((g) => [g.getAttribute('data-point'), (g.querySelector('path.stroke')!.getAttribute('d')!.match(/[ML]/g) ?? []).length]));
  assert.deepEqual(new Map(lines as [string, number][]), new Map([['p01', 6], ['p02', 6], ['p03', 6], ['p04', 2], ['p05', 2]]));

  // hover a line: the point lights up in all three views, the rest dims
  await p.page.dispatchEvent('#parallel .pline[data-point="p03"] path.hit', 'mouseover');
  const lit = await p.page.$$eval('.hl', (els) => els.map((e) => `${e.tagName.toLowerCase()}:${e.getAttribute('data-point')}`).sort());
  assert.deepEqual(lit, ['g:p03', 'g:p03', 'tr:p03']);
  assert.ok(await p.page.evaluate(() => document.body.classList.contains('hovering')));
  const opacity = await p.page.$eval('#scatter .dot[data-point="p01"]', (e) => getComputedStyle(e).opacity);
  assert.equal(opacity, '0.25');
  await p.page.dispatchEvent('#parallel', 'mouseleave');
  assert.equal(await p.page.$$eval('.hl', (els) => els.length), 0);

  // clicks: a table row, a dot, a line, Enter on a focused row; a queued point says why nothing opens
  await p.page.click('#points tbody tr[data-point="p01"]');
  await p.page.dispatchEvent('#scatter .dot[data-point="p03"] circle', 'click');
  await p.page.dispatchEvent('#parallel .pline[data-point="p02"] path.hit', 'click');
  await p.page.focus('#points tbody tr[data-point="p04"]');
  await p.page.keyboard.press('Enter');
  await waitFor(p.page, async () => (await posted()).length === 4, 'four openPoint messages');
  assert.deepEqual(await posted(), ['p01', 'p03', 'p02', 'p04']);
  await p.page.click('#points tbody tr[data-point="p05"]');
  await waitFor(p.page, async () => /p05 is pending/.test(await p.page.textContent('#notice') ?? ''), 'the queued point says why');
  assert.equal((await posted()).length, 4);

  // live: p04 completes, p05 starts — the table and the scatter follow
  const next = fixture();
  next.points[3] = { ...next.points[3], status: 'completed', state: 'completed', params: 3_000, bytes: 12_000, distilled: stat(0.93), pareto: { params: true, bytes: false }, progress: { done: 8, total: 8 } };
  next.points[4] = { ...next.points[4], status: 'running', state: 'running', hasRun: true, progress: { done: 1, total: 8 } };
  await p.send({ type: 'sweepUpdate', data: next });
  await waitFor(p.page, async () => (await dots()).length === 4, 'the fourth dot');
  const statuses = await p.page.$$eval('#points tbody tr .badge', (bs) => bs.map((b) => b.textContent));
  assert.deepEqual(statuses, ['completed', 'completed', 'completed', 'completed', 'running']);
  assert.equal(await p.page.isChecked('#size-bytes'), true, 'the size axis stays as chosen');
  assert.equal(await p.page.evaluate(() => document.activeElement?.getAttribute('data-point')), 'p05', 'the focused row keeps the focus through the update');

  // CSV export goes through the host's save
  await p.page.click('#export-csv');
  const save = await waitFor(p.page, async () => (await p.posted()).some((m) => m.type === 'save'), 'save').then(async () => (await p.posted()).find((m) => m.type === 'save')!);
  assert.equal(save.name, 'mnist-kd-sweep-20260101-120000.csv');
  assert.match(String(save.data), /^point,student\.derive\.width,training\.epochs,status,params,bytes,distilled_mean/);
  assert.match(String(save.data), /\np04,1,4,completed,3000,12000,0\.93,/);

  await p.page.click('#size-params');
  await waitFor(p.page, async () => /parameters \(log scale\)/.test(await p.page.textContent('#scatter') ?? ''), 'back to parameters');
  assert.deepEqual(cspErrors(p.errors), [], 'no CSP violations');
  assert.deepEqual(p.errors, []);
  console.log(`      screenshot: ${path.relative(REPO, await p.screenshot())}`);
});
