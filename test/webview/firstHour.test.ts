/**
 * Issue 20 ("a new user's first hour") in the panels' bundles, in Chromium with a fake host: the
 * weight of a new pair, and (as they are added) charts, the verdict card and narrow layouts.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { addPairEdit } from '../../src/host/panels/pairEdit';
import { parseWebviewMessage } from '../../src/protocol/webviews';
import { close, launch, openPanel, REPO } from './harness';
import * as fx from './fixtures';

/**
 * How far the widest element reaches past the panel's right edge (px; ≤ 0: nothing cut off). The
 * page clips sideways overflow (no sideways scroll), so scrollWidth would not tell; what lies in a
 * `.scroll-x` box scrolls inside it and does not count.
 */
const PAST_RIGHT_EDGE = `(() => {
  let max = 0;
  for (const e of document.body.querySelectorAll('*')) {
    if (e.parentElement && e.parentElement.closest('.scroll-x')) continue;
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) max = Math.max(max, r.right);
  }
  return max - window.innerWidth;
})()`;

before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', 'pairing.js')), 'run `npm run build` first (dist/webview/*.js)');
  await launch();
});
after(close);

describe('pairing: the weight of a new pair', () => {
  test('a new entry\'s weight is asked for (a field, the method\'s default), sent with the pair and written', async () => {
    const p = await openPanel('pairing');
    await p.send({ type: 'init', panel: 'pairing', target: { runDirs: [], experimentFile: '/ws/a.distill.json', title: 't' }, data: fx.pairing() });
    await p.page.waitForSelector('.layer');
    // fitnet already has an entry: its pairs share that entry's weight, the field says so and is disabled
    assert.equal(await p.page.getAttribute('#pair-weight', 'disabled'), '');
    assert.match(await p.page.textContent('#weight-label') ?? '', /Weight \(shared\)/);
    // a method without an entry: the field is enabled with the default; the typed weight goes with the pair
    await p.page.evaluate(() => {
      const sel = document.getElementById('method') as HTMLElement & { value: string };
      sel.value = 'nst';
      sel.dispatchEvent(new Event('change'));
    });
    await p.page.waitForSelector('#pair-weight:not([disabled])');
    assert.equal(await p.page.evaluate(() => (document.getElementById('pair-weight') as HTMLElement & { value: string }).value), '1');
    await p.page.evaluate(() => {
      const w = document.getElementById('pair-weight') as HTMLElement & { value: string };
      w.value = '0.5';
      w.dispatchEvent(new Event('input'));
    });
    await p.page.click('[data-side="teacher"][data-layer="conv_2"]');
    await p.page.click('[data-side="student"][data-layer="s_pool"]');
    await p.page.click('#add-pair');
    const adds = (await p.posted()).filter((m) => m.type === 'addPair');
    assert.deepEqual(adds[adds.length - 1], { type: 'addPair', teacher: 'conv_2', student: 's_pool', method: 'nst', weight: 0.5 });
    await p.page.close();
  });

  test('the host checks the weight and writes it into the new entry', () => {
    const msg = parseWebviewMessage('pairing', { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight: 0.5 });
    assert.deepEqual(msg, { ok: true, msg: { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight: 0.5 } });
    for (const weight of [0, -1, 'x', Infinity, 2e6]) assert.ok(!parseWebviewMessage('pairing', { type: 'addPair', teacher: 'a', student: 'b', method: 'nst', weight }).ok, String(weight));
    const text = '{\n  "knowledge": [\n    { "kind": "response", "method": "kd", "weight": 1 }\n  ]\n}\n';
    const add = addPairEdit(text, 'nst', 'conv_2', 's_pool', 0.5);
    assert.ok(add.ok);
    assert.match(add.text, /\{ "kind": "feature", "method": "nst", "weight": 0\.5, "pairs": \[\{ "teacher": "conv_2", "student": "s_pool" \}\] \}/);
    const dflt = addPairEdit(text, 'at', 'conv_2', 's_pool');
    assert.ok(dflt.ok && /"method": "at", "weight": 100,/.test(dflt.text), 'without a weight: the method\'s default');
  });
});

type Drawn = { axes: { _values?: string[]; _splits?: number[] }[]; legend: unknown };
/** The tick labels uPlot drew on a chart's axis (x: 0, y: 1). */
const ticks = (page: import('playwright-core').Page, chart: string, axis: number) => page.evaluate(([sel, i]) => {
  const u = (document.querySelector(sel as string) as unknown as { uplot: Drawn }).uplot;
  return u.axes[i as number]._values ?? [];
}, [chart, axis] as const);
/** The values in a chart's legend (off the chart: the last ones). */
const legend = (page: import('playwright-core').Page, chart: string) => page.$$eval(`${chart} .u-legend .u-value`, (els) => els.map((e) => e.textContent ?? ''));

describe('dashboard: chart defaults', () => {
  test('log-y for loss by default, whole-number epoch ticks, last values in the legend, a real learning-rate axis', async () => {
    const p = await openPanel('dashboard');
    const d = fx.dashboard();
    // a constant learning rate (issue 20: its axis said only "0"), and the loss by epoch
    d.lr = [{ name: 'distill-s1 · lr', job: 'distill-s1', term: 'lr', step: [1, 100, 200, 300], epoch: [0.01, 1, 2, 3], value: [0.002, 0.002, 0.002, 0.002] }];
    await p.send({ type: 'init', panel: 'dashboard', target: { runDirs: ['/x'], title: 't' }, data: d });
    await p.page.waitForSelector('#acc-chart .u-legend');
    assert.match(await p.page.textContent('#loss-chart') ?? '', /\(log y\)/, 'log-y by default');
    // accuracy per epoch: ticks only at whole epochs
    const accX = await ticks(p.page, '#acc-chart', 0);
    assert.ok(accX.length >= 2, `epoch ticks: ${accX.join(' ')}`);
    for (const t of accX) assert.match(t, /^\d+$/, `a whole epoch: ${accX.join(' ')}`);
    // the loss by epoch: x values are fractional epochs, the ticks still whole
    await p.page.evaluate(() => {
      const sel = document.getElementById('axis') as HTMLElement & { value: string };
      sel.value = 'epoch';
      sel.dispatchEvent(new Event('change'));
    });
    await p.page.waitForFunction(() => /^epoch/.test(document.querySelector('#loss-chart .u-legend th')?.textContent ?? ''));
    for (const t of await ticks(p.page, '#loss-chart', 0)) assert.match(t, /^\d+$/);
    // the legend shows the last values without hovering: the distilled student's last test accuracy, not "--"
    const accLegend = await legend(p.page, '#acc-chart');
    const lastTest = d.epochs.filter((e) => e.job === 'distill-s1').at(-1)!.testAcc;
    assert.ok(accLegend.some((v) => Number(v) === Number(lastTest.toFixed(3)) || Math.abs(Number(v) - lastTest) < 1e-3), `legend: ${accLegend.join(' | ')}`);
    assert.ok(!accLegend.slice(0, 4).includes('--'), `legend: ${accLegend.join(' | ')}`);
    assert.ok((await legend(p.page, '#loss-chart')).slice(1).every((v) => v !== '--'));
    // learning rate: the axis reads the value, from 0
    const lrY = await ticks(p.page, '#lr-chart', 1);
    const nums = lrY.map(Number);
    assert.equal(nums[0], 0, `from 0: ${lrY.join(' ')}`);
    assert.ok(nums.some((v) => v > 0) && new Set(lrY).size === lrY.length, `distinct, non-zero labels: ${lrY.join(' ')}`);
    assert.ok(nums.some((v) => Math.abs(v - 0.002) < 1e-12), `0.002 is a tick: ${lrY.join(' ')}`);
    await p.page.close();
  });
});


describe('the verdict card', () => {
  const lost = {
    teacher: 0.989, scratch: 0.966, distilled: 0.96, difference: -0.006, uncertainty: 0.0162, outcome: 'worse' as const, flagged: true,
    headline: 'teacher 98.90 % · scratch 96.60 % · distilled 96.00 %: −0.60 ± 1.62 points vs scratch (95 %, 1 seed, 1,000 test images)',
    note: 'distillation lost to scratch (within noise): check the teacher, the temperature and the weights',
  };

  test('dashboard header: teacher / scratch / distilled, the difference ± uncertainty, flagged; pending until the report; screenshot', async () => {
    const p = await openPanel('dashboard');
    const d = fx.dashboard();
    await p.send({ type: 'init', panel: 'dashboard', target: { runDirs: ['/x'], title: 't' }, data: d });
    await p.page.waitForSelector('#verdict.pending');
    assert.match(await p.page.textContent('#verdict') ?? '', /comes when the run completes/);
    // the run completes: the report's verdict arrives with the last append
    await p.send({ type: 'append', losses: [], lr: [], epochs: [], state: 'completed', verdict: lost });
    await p.page.waitForSelector('#verdict.flagged');
    const text = await p.page.textContent('#verdict') ?? '';
    for (const want of ['teacher98.90 %', 'scratch96.60 %', 'distilled96.00 %', 'distilled − scratch−0.60 ± 1.62 pts', '⚠ distillation lost to scratch (within noise)']) {
      assert.ok(text.includes(want), `${want} in ${text}`);
    }
    assert.equal(await p.page.getAttribute('#verdict', 'role'), 'alert');
    // above the charts, in the header
    const [card, charts] = await Promise.all(['#verdict', '#charts'].map((s) => p.page.$eval(s, (e) => e.getBoundingClientRect().top)));
    assert.ok(card < charts);
    const shot = path.join(REPO, 'test-output', 'webview', 'dashboard-verdict-card.png');
    await p.page.locator('#verdict').screenshot({ path: shot });
    console.log(`      screenshot ${path.relative(REPO, shot)}`);
    await p.page.close();
  });

  test('compression report: the same card above the table', async () => {
    const p = await openPanel('compression');
    await p.send({ type: 'init', panel: 'compression', target: { runDirs: ['/x'], title: 't' }, data: { ...fx.compression(), verdict: { ...lost, flagged: false, outcome: 'better', note: 'distillation beat scratch beyond noise' } } });
    await p.page.waitForSelector('#verdict.ok');
    assert.match(await p.page.textContent('#verdict') ?? '', /✓ distillation beat scratch beyond noise/);
    const [card, table] = await Promise.all(['#verdict', '#models'].map((s) => p.page.$eval(s, (e) => e.getBoundingClientRect().top)));
    assert.ok(card < table);
    await p.page.close();
  });
});

describe('panels from 600 px', () => {
  test('pairing at 600 px: both columns and the title in view, no sideways scroll, also after picking a student layer; screenshot', async () => {
    const p = await openPanel('pairing');
    await p.page.setViewportSize({ width: 600, height: 900 });
    await p.send({ type: 'init', panel: 'pairing', target: { runDirs: [], experimentFile: '/ws/a.distill.json', title: 't' }, data: fx.pairing() });
    await p.page.waitForSelector('.layer');
    type Box = { left: number; right: number };
    // a string, not a function: tsx would wrap a function with helpers the page does not have
    const layout = () => p.page.evaluate(`(() => {
      const box = (sel) => document.querySelector(sel).getBoundingClientRect().toJSON();
      const el = document.scrollingElement;
      return { overflow: el.scrollWidth - el.clientWidth, scrollX: window.scrollX, teacher: box('[data-side="teacher"]'),
        student: box('[data-side="student"]'), title: box('#title'), width: window.innerWidth };
    })()`) as Promise<{ overflow: number; scrollX: number; teacher: Box; student: Box; title: Box; width: number }>;
    const before = await layout();
    assert.ok(before.overflow <= 0, `no horizontal overflow: ${before.overflow} px`);
    const past = await p.page.evaluate(PAST_RIGHT_EDGE) as number;
    assert.ok(past <= 0, `nothing cut off at the right edge: ${past} px`);
    assert.ok(before.teacher.left >= 0 && before.student.right <= before.width, `both columns in view: teacher ${before.teacher.left}, student ${before.student.right} of ${before.width}`);
    await p.page.click('[data-side="teacher"][data-layer="conv_2"]');
    await p.page.click('[data-side="student"][data-layer="s_dense"]');
    await p.page.waitForFunction(() => document.activeElement?.id === 'add-pair');
    const after = await layout();
    assert.equal(after.scrollX, 0, 'no sideways jump');
    assert.ok(after.teacher.left >= 0 && after.student.right <= after.width && after.title.left >= 0, 'teacher column, student column and title still in view');
    const shot = path.join(REPO, 'test-output', 'webview', 'pairing-600px.png');
    await p.page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot ${path.relative(REPO, shot)}`);
    await p.page.close();
  });
});

describe('the other panels from 600 px', () => {
  for (const kind of ['dashboard', 'compression', 'featureMaps', 'compare'] as const) {
    test(`${kind} at 600 px: nothing wider than the panel (tables scroll inside themselves)`, async () => {
      const p = await openPanel(kind);
      await p.page.setViewportSize({ width: 600, height: 900 });
      const data = { dashboard: fx.dashboard, compression: fx.compression, featureMaps: fx.featureMapsInit, compare: fx.compare }[kind]();
      await p.send({ type: 'init', panel: kind, target: { runDirs: ['/x'], title: 't' }, data } as never);
      // what each panel draws last (the charts' canvases, the tables)
      await p.page.waitForSelector({ dashboard: '#lr-chart canvas', compression: '#layers', featureMaps: '#title', compare: '#title' }[kind]);
      const past = await p.page.evaluate(PAST_RIGHT_EDGE) as number;
      assert.ok(past <= 0, `${kind}: something reaches ${past} px past the panel's right edge`);
      await p.page.close();
    });
  }
});
