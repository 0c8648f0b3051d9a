/**
 * The Sweep panel in the real workbench (code-server + chromium), on a real sweep: a 4-point width
 * sweep of a derived student (synthetic data, 2 seeds) run with the CLI (`distill sweep`, seconds)
 * before the workbench opens. Steps: the sweep shows under its experiment in the Experiments tree
 * with the inline Open Sweep action; a click on it opens the panel (4 dots, the front, the table
 * as report.json says); hovering a dot highlights the point; a table row opens its run's dashboard;
 * a second sweep started while the workbench is open appears in the tree by itself, and its panel
 * shows the points queued → running → completed as the CLI trains them.
 * Screenshots in test-output/e2e-sweep/ (sweep-panel.png is the README picture).
 * usage: scripts/vscode/e2e.sh test/e2e/sweep.e2e.cjs
 */
const assert = require('assert/strict');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { launch, openWorkbench, runSuite, stepper, suite, waitFor } = require('./harness.cjs');
const { Workbench } = require('./workbench.cjs');

const { BASE, WS, DEV, ROOT, SHOTS, t0, log } = suite('sweep.e2e.cjs', 'e2e-sweep');
const CONTAINER = 'Distill Studio';
const synthetic = (samples, seed) => ({ format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed });

const EXPERIMENT = {
  name: 'width-sweep',
  seeds: [1, 2],
  data: { train: synthetic(1024, 1), test: synthetic(256, 2), validation: { fraction: 0.125 }, normalize: 'none' },
  teacher: {
    module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [64, 64], classes: 4 },
    train: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
  },
  student: { derive: { width: 0.25, round: 4 } },
  knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
  labels: { weight: 0.1 },
  training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 4 },
  baseline: true,
  sweep: { 'student.derive.width': [0.0625, 0.125, 0.25, 0.5] },
};

const { steps, step } = stepper(log);

/**
 * The content frame of the panel whose heading matches `title` (several webviews can be visible side
 * by side, so the workbench's "first visible webview" is not enough); found again on every call, as
 * a webview that was hidden reloads into a new frame. Undefined while there is none.
 */
async function panelFrame(page, title) {
  for (const f of page.frames()) {
    const h = await f.locator('h1#title').first().textContent({ timeout: 200 }).catch(() => null);
    if (h && title.test(h)) return f;
  }
  return undefined;
}

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.rmSync(WS, { recursive: true, force: true });
  fs.mkdirSync(WS, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'examples', 'models.ts'), path.join(WS, 'models.ts'));
  const file = path.join(WS, 'width-sweep.distill.json');
  fs.writeFileSync(file, JSON.stringify(EXPERIMENT, null, 2) + '\n');
  const { browser, page, consoleLines } = await launch({ width: 1600, height: 1240 });
  const wb = new Workbench(page, SHOTS);
  let sweepDir;
  let report;
  await runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, async () => {
    await step('run a 4-point sweep with the CLI (real training)', async () => {
      const s = Date.now();
      const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'sweep', file, '--yes'], { cwd: WS, encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, 0, `distill sweep failed:\n${r.stdout}\n${r.stderr}`);
      sweepDir = /sweep folder: (.+)\s*$/.exec(r.stdout.trim())[1].trim();
      report = JSON.parse(fs.readFileSync(path.join(sweepDir, 'report.json'), 'utf8'));
      log(`sweep ${path.basename(sweepDir)}: ${report.rows.length} points in ${((Date.now() - s) / 1000).toFixed(1)} s; front ${report.rows.filter((r) => r.pareto).map((r) => r.point).join(' ')}`);
    });

    await openWorkbench(page, BASE, WS, DEV);
    const id = () => path.basename(sweepDir);

    await step('the sweep under its experiment in the tree, with Open Sweep inline', async () => {
      await wb.waitReady(CONTAINER);
      await wb.showContainer(CONTAINER);
      await wb.treeRow('width-sweep').waitFor({ timeout: 60_000 });
      const row = wb.treeRow(`sweep ${id()}`);
      await row.waitFor({ timeout: 30_000 });
      assert.match(await row.innerText(), /completed · 4\/4 points completed/);
      await row.hover();
      await row.locator('.action-label[aria-label="Open Sweep"]').waitFor({ state: 'visible', timeout: 10_000 });
    });

    let frame;
    await step('a click opens the Sweep panel: the points, the front, parallel coordinates', async () => {
      await wb.treeRow(`sweep ${id()}`).click();
      frame = wb.webview('width-sweep · sweep').frame;
      await frame.locator('#scatter .dot').first().waitFor({ timeout: 60_000 });
      assert.equal(await frame.locator('#scatter .dot').count(), 4);
      assert.equal(await frame.locator('#parallel .pline').count(), 4);
      const front = report.rows.filter((r) => r.pareto).map((r) => r.point).sort().join(' ');
      assert.equal(await frame.locator('#pareto-front').getAttribute('data-points').then((v) => v.split(' ').sort().join(' ')), front,
        'the panel\'s front (parameters) is the front of sweep-report');
      const rows = await frame.locator('#points tbody tr').allInnerTexts();
      assert.equal(rows.length, 4);
      for (const r of report.rows) {
        const text = rows.find((t) => t.startsWith(r.point));
        assert.ok(text.includes('completed') && text.includes(r.params.toLocaleString('en-US')), `${r.point}: ${text}`);
        assert.ok(text.includes(`${(r.distilled.mean * 100).toFixed(1)} %`), `${r.point} distilled accuracy in "${text}"`);
      }
      // no notification over the panel in the picture (code-server offers the parent folder's git repository)
      await wb.command('Notifications: Clear All Notifications');
      await page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
      await frame.locator('h1#title').hover();
      await wb.shot('sweep-panel');
      // hover the front's most accurate point: highlighted in the table and the lines
      const best = report.rows.filter((r) => r.pareto).sort((a, b) => b.distilled.mean - a.distilled.mean)[0].point;
      await frame.locator(`#scatter .dot[data-point="${best}"] circle`).hover();
      await frame.locator(`#points tr.hl[data-point="${best}"]`).waitFor();
      await frame.locator(`#parallel .pline.hl[data-point="${best}"]`).waitFor();
      await wb.shot('sweep-panel-hover');
    });

    await step('a sweep started now: in the tree by itself, its panel follows the points live', async () => {
      const liveFile = path.join(WS, 'live-sweep.distill.json');
      fs.writeFileSync(liveFile, JSON.stringify({ ...EXPERIMENT, name: 'live-sweep', data: { ...EXPERIMENT.data, train: synthetic(8192, 1) },
        sweep: { 'student.derive.width': [0.125, 0.25, 0.5] } }, null, 2) + '\n');
      await wb.treeRow('live-sweep').waitFor({ timeout: 60_000 });
      let out = '';
      const cli = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'sweep', liveFile, '--yes'], { cwd: WS });
      cli.stdout.on('data', (b) => (out += b));
      cli.stderr.on('data', (b) => (out += b));
      const exited = new Promise((r) => cli.on('exit', r));
      try {
        const liveDir = await waitFor('the live sweep folder', () => { const m = /sweep folder: (\S+)/.exec(out); return m && m[1]; }, 60_000, 100);
        log(`live sweep folder ${path.basename(liveDir)} created`);
        await wb.expand('live-sweep');
        const row = wb.treeRow(`sweep ${path.basename(liveDir)}`);
        await row.waitFor({ timeout: 30_000 });
        log('its tree row is there');
        await row.click();
        const liveTitle = /^Sweep: live-sweep/;
        const badges = async () => { const f = await panelFrame(page, liveTitle); return f ? f.locator('#points tbody .badge').allInnerTexts().catch(() => []) : []; };
        await waitFor('the live sweep panel', async () => (await badges()).length === 3, 60_000, 100);
        log(`its panel shows ${(await badges()).join(', ')}`);
        const seen = new Set();
        await waitFor('a point running in the panel', async () => { const b = await badges(); b.forEach((x) => seen.add(x)); return b.includes('running'); }, 120_000, 100);
        await wb.shot('sweep-live-running');
        await waitFor('every point completed in the panel', async () => { const b = await badges(); b.forEach((x) => seen.add(x)); return b.length === 3 && b.every((x) => x === 'completed'); }, 300_000, 200);
        log(`live sweep: the panel showed ${[...seen].join(', ')}; CLI ${await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))])}`);
        assert.ok(seen.has('running') && seen.has('completed'), [...seen].join(', '));
        assert.equal(await (await panelFrame(page, liveTitle)).locator('#scatter .dot').count(), 3);
        await waitFor('the tree row says completed', async () => /completed · 3\/3 points completed/.test(await row.innerText()), 30_000);
        await wb.shot('sweep-live-completed');
      } finally {
        if (cli.exitCode === null) cli.kill('SIGINT');
      }
    });

    await step('a table row opens its run\'s dashboard', async () => {
      await wb.editorTab(`width-sweep · sweep ${id()}`).click();
      frame = await waitFor('the width-sweep panel', () => panelFrame(page, /^Sweep: width-sweep/), 30_000);
      await frame.locator('#points tbody tr[data-point="p02"]').click({ timeout: 30_000 });
      await wb.editorTab(/— dashboard/).waitFor({ timeout: 30_000 });
      // two webviews are visible now (the sweep and the dashboard beside it): find the dashboard's frame
      await waitFor('the dashboard\'s chart of p02\'s run', async () => {
        const f = await panelFrame(page, /^Dashboard: width-sweep/);
        return f && (await f.locator('#loss-chart canvas').count()) > 0;
      }, 60_000);
      await wb.shot('sweep-point-dashboard');
    });
  });
})();
