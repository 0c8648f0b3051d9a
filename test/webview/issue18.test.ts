/**
 * Issue 18's views in Chromium, in the real HTML shell (CSP included), fed what the host builds
 * from fixture run folders (src/host/panels/synthesizedData.ts, panelData.ts): the Synthesized
 * Inputs grid (a row per class, the first inputs of each class, the canvas pixels equal to what
 * the host computed), the batch picker and live batches; the compression report's quantised rows
 * (int8/int4 post-training, int8 quantisation-aware), the QAT summary and the data-free section;
 * the dashboard's two discriminator values of one adversarial term with readable labels.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { close, launch, openPanel, REPO, waitFor } from './harness';
import * as fx from './fixtures';
import { synthesizedData } from '../../src/host/panels/synthesizedData';
import { quantizedAndDataFree } from '../../src/host/panels/panelData';
import type { Report } from '../../src/runs/report';
import type { HostToWebview } from '../../src/protocol/webviews';
import { rampValue, writeBatch, writeSynthRun } from '../helpers/synthesizedFixture';
import type { SynthFixture } from '../helpers/synthesizedFixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-web-'));
before(async () => {
  for (const p of ['synthesized', 'compression', 'dashboard']) assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', `${p}.js`)), 'run `npm run build` first (dist/webview/*.js)');
  await launch();
});
after(async () => {
  await close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cspErrors = (errors: string[]) => errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
const target = { runDirs: ['/r'], title: 't' };

test('synthesized inputs: a grid per class, pixels as the host computed them, the batch picker, live batches', async () => {
  const run = path.join(tmp, 'df');
  const f: SynthFixture = { shape: [6, 5, 1], classes: 4, batchSize: 10, batches: 3, value: rampValue(30), classNames: ['T-shirt', 'Trouser', 'Pullover', 'Dress'] };
  writeSynthRun(run, f, 2);
  const p = await openPanel('synthesized');
  const data = synthesizedData(run, 'running', undefined, f.classNames);
  await p.send({ type: 'init', panel: 'synthesized', target, data: { title: 'datafree · 10:10:10', ...data } });
  await p.page.waitForSelector('#grid canvas');
  assert.equal(await p.page.getAttribute('#grid', 'data-batch'), '2');
  // labels n mod 4 over 10 inputs: classes 0 and 1 have 3, classes 2 and 3 have 2
  assert.deepEqual(await p.page.$$eval('#grid .synth-class', (rows) => rows.map((r) => `${r.querySelector('.synth-class-name')!.textContent}: ${Array.from(r.querySelectorAll('canvas')).map((c) => (c as HTMLCanvasElement).dataset.index).join(',')}`)),
    ['0 T-shirt · 3 in the batch: 0,4,8', '1 Trouser · 3 in the batch: 1,5,9', '2 Pullover · 2 in the batch: 2,6', '3 Dress · 2 in the batch: 3,7']);
  // the canvas holds the host's pixels (grey: r = g = b), 5 wide × 6 high
  const drawn = await p.page.$eval('#grid .synth-class[data-class="1"] canvas', (c) => {
    const cv = c as HTMLCanvasElement;
    const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
    return { w: cv.width, h: cv.height, grey: Array.from({ length: cv.width * cv.height }, (_, i) => (d[i * 4] === d[i * 4 + 1] && d[i * 4] === d[i * 4 + 2] ? d[i * 4] : -1)) };
  });
  assert.deepEqual([drawn.w, drawn.h], [5, 6]);
  assert.deepEqual(drawn.grey, data.grid!.classes[1].images[0].pixels);
  assert.deepEqual(drawn.grey, Array.from({ length: 30 }, (_, i) => Math.round((i / 29) * 255)), 'a ramp stretched over 0..255');
  // per-batch BN loss first → last and the teacher's accuracy; the shown batch marked
  assert.deepEqual(await p.page.$$eval('#batches tbody tr', (r) => r.map((x) => Array.from(x.children).map((c) => c.textContent).join(' | '))),
    ['1 | 10 | 10.0000 → 1.0000 | 0.5000 | 50.00 % | 3.0', '2 | 10 | 5.0000 → 0.5000 | 0.2500 | 66.67 % | 4.0']);
  assert.equal(await p.page.getAttribute('#batches tr.selected', 'data-batch'), '2');
  assert.match(await p.page.textContent('#summary') ?? '', /7\.5000 → 0\.7500.*58\.33 % of 20/);
  assert.match(await p.page.textContent('#status') ?? '', /running · 2\/3 batches · 20\/30 inputs of shape \[6, 5, 1\] · 4 classes/);
  assert.ok(await p.page.$('#bn-curve polyline'), 'the shown batch\'s BN-loss curve');
  assert.deepEqual((await p.posted()).filter((m) => m.type === 'pickBatch'), [], 'rendering picks nothing');
  // the picker asks the host for batch 1
  await p.page.evaluate(() => {
    const sel = document.getElementById('batch') as HTMLElement & { value: string };
    sel.value = '1';
    sel.dispatchEvent(new Event('change'));
  });
  await waitFor(p.page, async () => (await p.posted()).some((m) => m.type === 'pickBatch' && m.batch === 1), 'pickBatch 1');
  await p.send({ type: 'synthesizedUpdate', data: synthesizedData(run, 'running', 1, f.classNames) });
  await waitFor(p.page, async () => (await p.page.getAttribute('#grid', 'data-batch')) === '1', 'batch 1 shown');
  // a new batch while a picked one is shown: the list grows, the grid stays (the host leaves it out)
  writeBatch(run, f, 3);
  const update = synthesizedData(run, 'completed', 1, f.classNames);
  delete update.grid;
  await p.send({ type: 'synthesizedUpdate', data: update } as HostToWebview);
  await waitFor(p.page, async () => (await p.page.$$eval('#batches tbody tr', (r) => r.length)) === 3, 'three batches');
  assert.equal(await p.page.getAttribute('#grid', 'data-batch'), '1');
  assert.match(await p.page.textContent('#status') ?? '', /^completed · 3\/3 batches/);
  console.log(`      screenshot ${path.relative(REPO, await p.screenshot())}`);
  assert.deepEqual(cspErrors(p.errors), []);
  await p.page.close();
});

test('synthesized inputs: RGB inputs drawn in colour; a run without inputs says why', async () => {
  const run = path.join(tmp, 'rgb');
  writeSynthRun(run, { shape: [2, 3, 3], classes: 2, batchSize: 2, batches: 1, value: (_b, n, i) => ((n * 18 + i) % 9) / 8 }, 1);
  const p = await openPanel('synthesized');
  const data = synthesizedData(run, 'completed');
  await p.send({ type: 'init', panel: 'synthesized', target, data: { title: 'rgb', ...data } });
  await p.page.waitForSelector('#grid canvas');
  const rgb = await p.page.$eval('#grid .synth-class[data-class="0"] canvas', (c) => {
    const cv = c as HTMLCanvasElement;
    const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
    return Array.from(d).filter((_, i) => i % 4 !== 3);
  });
  assert.deepEqual(rgb, data.grid!.classes[0].images[0].pixels);
  assert.deepEqual(rgb.slice(0, 6), [0, 32, 64, 96, 128, 159], 'eighths of 255, channel order kept'); // 1/8·255 = 31.875 → 32, 5/8·255 = 159.4 → 159
  const plain = path.join(tmp, 'plain');
  fs.mkdirSync(plain, { recursive: true });
  await p.send({ type: 'init', panel: 'synthesized', target, data: { title: 'plain', ...synthesizedData(plain, 'completed') } });
  await p.page.waitForSelector('#note');
  assert.match(await p.page.textContent('#note') ?? '', /teacher-synthesized/);
  assert.equal(await p.page.$('#grid'), null);
  assert.deepEqual(cspErrors(p.errors), []);
  await p.page.close();
});

/** A report of a data-free QAT run, as an engine writes it (the issue-18 fields). */
function report18(): Report {
  const stat = (mean: number, std = 0.002, n = 3) => ({ mean, std, n });
  const q = (extra: Partial<Report['quantized']>) => ({ dir: 'student/int8', format: 'int8-affine-per-channel', bytes: 27_000, floatBytes: 101_800, compression: 3.77, testAcc: 0.955, testErrors: 450, agreement: 0.96, floatTestAcc: 0.9608, accDrop: 0.0058, ...extra });
  return {
    experiment: 'datafree', runId: 'r', backend: 'wasm', student: { params: 25_450, bytes: 101_800, flops: 50_816, latencyMsPerSample: 0.08 }, scheme: 'offline', jobs: {},
    summary: { distill: { testAcc: stat(0.912), testErrors: stat(880) }, scratch: { testAcc: stat(0.957), testErrors: stat(430) } }, exportedJob: 'distill-s1', testSize: 10_000,
    quantized: q({}) as Report['quantized'],
    quantizedVariants: [
      q({ dir: 'student/int4', bits: 4, method: 'ptq', bytes: 14_300, compression: 7.12, testAcc: 0.931, accDrop: 0.0298 }) as NonNullable<Report['quantized']>,
      q({ dir: 'student/int8-qat', bits: 8, method: 'qat', job: 'qat-s1', testAcc: 0.9601, floatTestAcc: 0.9597, accDrop: -0.0004 }) as NonNullable<Report['quantized']>,
    ],
    qat: { testAcc: stat(0.9599, 0.0011), testErrors: stat(401), bits: 8, activations: false },
    dataFree: { samples: 2048, batches: 16, bnLoss: { start: 3.21, end: 0.142 }, teacherAcc: 0.994, reference: { format: 'mnist', distill: { testAcc: stat(0.9608, 0.0012), testErrors: stat(392) } } },
  };
}

test('compression report: a row per quantised copy by bits and method, the QAT summary, the data-free comparison', async () => {
  const p = await openPanel('compression');
  await p.send({ type: 'init', panel: 'compression', target, data: { ...fx.compression(), ...quantizedAndDataFree(report18()) } });
  await p.page.waitForSelector('#quantized');
  assert.deepEqual(await p.page.$$eval('#quantized tbody tr', (r) => r.map((x) => Array.from(x.children).map((c) => c.textContent).join(' | '))), [
    'int8 · post-training | 26.4 KiB | ×3.8 | 95.50 % | −0.58 pts | 96.00 % | student/int8',
    'int4 · post-training | 14.0 KiB | ×7.1 | 93.10 % | −2.98 pts | 96.00 % | student/int4',
    'int8 · quantisation-aware | 26.4 KiB | ×3.8 | 96.01 % | +0.04 pts | 96.00 % | student/int8-qat',
  ]);
  assert.equal(await p.page.getAttribute('#quantized tbody tr:nth-child(3) td:nth-child(5)', 'title'), 'float 95.97 % (qat-s1)');
  assert.equal(await p.page.textContent('#qat-summary'), 'Quantisation-aware training (int8): test accuracy 95.99 % ± 0.11 % over 3 seeds with the fake-quantised forward pass.');
  assert.match(await p.page.textContent('#data-free dl') ?? '', /2,048 in 16 batches.*3\.2100 → 0\.1420.*99\.40 % against their target classes/);
  assert.deepEqual(await p.page.$$eval('#data-free-students tbody tr', (r) => r.map((x) => Array.from(x.children).map((c) => c.textContent).join(' | '))), [
    'data-free distilled | synthesised inputs | 91.20 % ± 0.20 %',
    'distilled on real data | real data (mnist) | 96.08 % ± 0.12 %',
    'scratch | real data (mnist), labels only | 95.70 % ± 0.20 %',
  ]);
  console.log(`      screenshot ${path.relative(REPO, await p.screenshot())}`);
  // a report without issue 18's fields: no such sections
  await p.send({ type: 'init', panel: 'compression', target, data: fx.compression() });
  await waitFor(p.page, async () => (await p.page.$('#quantized-section')) === null && (await p.page.$('#models')) !== null, 'the plain report');
  assert.equal(await p.page.$('#data-free'), null);
  assert.deepEqual(cspErrors(p.errors), []);
  await p.page.close();
});

test('dashboard: the discriminator\'s loss and accuracy of one adversarial term chart together, with readable labels', async () => {
  const p = await openPanel('dashboard');
  const series = (name: string, f: (i: number) => number) => ({ name: `distill-s1 · ${name}`, job: 'distill-s1', term: name,
    step: Array.from({ length: 200 }, (_, i) => i + 1), epoch: Array.from({ length: 200 }, (_, i) => (i + 1) / 100), value: Array.from({ length: 200 }, (_, i) => f(i)) });
  await p.send({ type: 'init', panel: 'dashboard', target, data: { ...fx.dashboard(), params: [series('adversarial.discLoss', (i) => 1.4 - i / 400), series('adversarial.discAcc', (i) => 0.5 + i / 500)] } });
  await p.page.waitForSelector('#param-chart canvas');
  const text = await p.page.textContent('#param-chart') ?? '';
  assert.match(text, /discriminator loss \(adversarial\)/);
  assert.match(text, /discriminator accuracy \(adversarial\)/);
  await p.page.click('#export-csv');
  const csv = String((await p.posted()).filter((m) => m.type === 'save').pop()?.data ?? '');
  assert.equal(csv.split('\n').filter((l) => l.startsWith('distill-s1,adversarial.discAcc,')).length, 200);
  assert.equal(csv.split('\n').filter((l) => l.startsWith('distill-s1,adversarial.discLoss,')).length, 200);
  assert.deepEqual(cspErrors(p.errors), []);
  await p.page.close();
});
