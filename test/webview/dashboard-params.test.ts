/**
 * The dashboard charts learned values of the step records (ctkd's temperature, issue 17): a chart
 * appears for a job that has them, with their points, grows with appends, and is absent otherwise.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { close, launch, openPanel, REPO, waitFor } from './harness';
import * as fx from './fixtures';

before(async () => {
  assert.ok(fs.existsSync(path.join(REPO, 'dist', 'webview', 'dashboard.js')), 'run `npm run build` first (dist/webview/*.js)');
  await launch();
});
after(close);

const temperature = (from: number, n: number) => ({
  name: 'distill-s1 · ctkd.temperature', job: 'distill-s1', term: 'ctkd.temperature',
  step: Array.from({ length: n }, (_, i) => from + i), epoch: Array.from({ length: n }, (_, i) => (from + i) / 100),
  value: Array.from({ length: n }, (_, i) => 4 + 0.01 * (from + i)),
});

test('dashboard: the learned temperature gets its chart, which grows with appends; a job without one has none', async () => {
  const p = await openPanel('dashboard');
  const data = fx.dashboard();
  await p.send({ type: 'init', panel: 'dashboard', target: { runDirs: ['/x'], title: 't' }, data: { ...data, params: [temperature(1, 300)] } });
  await p.page.waitForSelector('#param-chart canvas');
  assert.match(await p.page.textContent('#param-chart') ?? '', /Learned values/);
  assert.match(await p.page.textContent('#param-chart') ?? '', /ctkd\.temperature/);
  await p.send({ type: 'append', state: 'running', losses: [], lr: [], params: [temperature(301, 50)], epochs: [] });
  // every point, the appended ones included, is in the CSV export
  await p.page.click('#export-csv');
  const csv = String((await p.posted()).filter((m) => m.type === 'save').pop()?.data ?? '');
  assert.equal(csv.split('\n').filter((l) => l.startsWith('distill-s1,ctkd.temperature,')).length, 350);
  assert.match(csv, /distill-s1,ctkd\.temperature,350,3\.5000,7\.5/);
  // a job without learned values: the chart goes when it is picked
  await p.page.evaluate(() => {
    const sel = document.getElementById('job') as HTMLElement & { value: string };
    sel.value = 'scratch-s1';
    sel.dispatchEvent(new Event('change'));
  });
  await waitFor(p.page, async () => (await p.page.$('#param-chart')) === null, 'no learned-values chart for scratch-s1');
  await p.page.evaluate(() => {
    const sel = document.getElementById('job') as HTMLElement & { value: string };
    sel.value = 'distill-s1';
    sel.dispatchEvent(new Event('change'));
  });
  await p.page.waitForSelector('#param-chart canvas');
  assert.deepEqual(p.errors.filter((e) => /Content Security Policy|Refused to/i.test(e)), []);
  await p.page.close();
});
