/**
 * The README pictures, retaken from real work (`npm run screenshots`; not part of `npm test`: it
 * trains a real example for a few minutes). The workspace holds a copy of
 * examples/mnist-cnn-mix.distill.json as it is (the pre-trained MNIST CNN teacher, a CNN student with
 * KD, AT, FitNets and RKD; 12k training images, 3 epochs, with the scratch baseline: about two minutes
 * on 2 cores; SCREENSHOT_LIMIT=N trains on N images and tests on 2000 instead); it is run with the CLI
 * into the workspace's runs folder before the workbench opens, then the workbench (1920×1080, one
 * editor group, so the inline loss values and sparklines after each knowledge entry fit) shows its
 * dashboard, the experiment file with its inline values, the layer pairing, the compression report
 * and the feature maps; a small 4-point width sweep (synthetic data, seconds) gives the Sweep panel.
 * Notifications are cleared before each picture. The pictures go to media/screenshots/ (and every
 * step's to test-output/e2e-screenshots/).
 * usage: scripts/vscode/e2e.sh test/e2e/screenshots.e2e.cjs
 */
const assert = require('assert/strict');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { launch, openWorkbench, paintedPixels, runSuite, stepper, suite, waitFor } = require('./harness.cjs');
const { Workbench } = require('./workbench.cjs');

const { BASE, WS, DEV, ROOT, SHOTS, t0, log } = suite('screenshots.e2e.cjs', 'e2e-screenshots');
const CONTAINER = 'Distill Studio';
const README_SHOTS = path.join(ROOT, 'media', 'screenshots');
const LIMIT = process.env.SCREENSHOT_LIMIT ? Number(process.env.SCREENSHOT_LIMIT) : undefined;
const EXP = 'mnist-cnn-mix.distill.json';

const synthetic = (samples, seed) => ({ format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed });
/** The Sweep panel's experiment: as in sweep.e2e.cjs, four student widths, two seeds, seconds to train. */
const SWEEP = {
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
 * The workspace: the example with its teacher, model module and schema (with SCREENSHOT_LIMIT, on fewer
 * images), and the sweep's experiment.
 */
function writeWorkspace() {
  fs.rmSync(WS, { recursive: true, force: true });
  fs.mkdirSync(WS, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'examples', 'models.ts'), path.join(WS, 'models.ts'));
  fs.cpSync(path.join(ROOT, 'examples', 'teachers', 'mnist-cnn'), path.join(WS, 'teachers', 'mnist-cnn'), { recursive: true });
  // the schema beside the experiment, so that the picture shows a relative path (not this machine's)
  fs.cpSync(path.join(ROOT, 'schema'), path.join(WS, 'schema'), { recursive: true });
  let text = fs.readFileSync(path.join(ROOT, 'examples', EXP), 'utf8').replace('"$schema": "../schema/', '"$schema": "./schema/');
  assert.ok(text.includes('"$schema": "./schema/'), `${EXP}: its $schema was not found to point at the copy`);
  if (LIMIT) {
    text = text.replace(/"split": "train", "limit": \d+/, `"split": "train", "limit": ${LIMIT}`)
      .replace(/"split": "test" \}/, '"split": "test", "limit": 2000 }');
    assert.ok(text.includes(`"limit": ${LIMIT}`) && text.includes('"limit": 2000'), `${EXP}: the data limits were not found to shrink`);
  }
  fs.writeFileSync(path.join(WS, EXP), text);
  fs.writeFileSync(path.join(WS, 'width-sweep.distill.json'), JSON.stringify(SWEEP, null, 2) + '\n');
}

/** Runs the CLI in the workspace; fails with its output. Returns stdout. */
function cli(args, timeout) {
  const s = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { cwd: WS, encoding: 'utf8', timeout });
  assert.equal(r.status, 0, `distill ${args.join(' ')} failed (${r.signal || r.status}):\n${r.stdout}\n${r.stderr}`);
  log(`distill ${args[0]}: ${((Date.now() - s) / 1000).toFixed(1)} s`);
  return r.stdout;
}

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(README_SHOTS, { recursive: true });
  writeWorkspace();
  const { browser, page, consoleLines } = await launch({ width: 1920, height: 1080 });
  const wb = new Workbench(page, SHOTS);
  /** A step picture, also saved as media/screenshots/<name>.png; notifications cleared first. */
  const picture = async (name) => {
    await wb.command('Notifications: Clear All Notifications');
    await page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
    const file = await wb.shot(name);
    fs.copyFileSync(file, path.join(README_SHOTS, `${name}.png`));
    log(`picture ${name}.png: ${(fs.statSync(file).size / 1024).toFixed(0)} KB`);
  };
  let runDir;
  let sweepDir;
  await runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, async () => {
    await step(`train ${EXP}${LIMIT ? ` (train limit ${LIMIT}, test limit 2000)` : ''} with the CLI into the workspace's runs folder`, async () => {
      cli(['run', EXP], 900_000);
      const runs = path.join(WS, '.distill', 'runs', 'mnist-cnn-mix');
      runDir = path.join(runs, fs.readdirSync(runs).filter((d) => fs.existsSync(path.join(runs, d, 'run.json'))).sort().pop());
      const run = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      assert.equal(run.status, 'completed', `run.json: ${JSON.stringify(run).slice(0, 400)}`);
      const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8'));
      log(`run ${path.basename(runDir)}: distilled test accuracy ${(report.summary.distill.testAcc.mean * 100).toFixed(2)} %`);
    });
    await step('a 4-point width sweep with the CLI (synthetic data)', async () => {
      const out = cli(['sweep', 'width-sweep.distill.json', '--yes'], 600_000);
      sweepDir = /sweep folder: (.+)\s*$/.exec(out.trim())[1].trim();
    });

    await openWorkbench(page, BASE, WS, DEV);
    await step('the workbench: the experiments tree with the run', async () => {
      await wb.waitReady(CONTAINER);
      await wb.showContainer(CONTAINER);
      await wb.treeRow('mnist-cnn-mix').waitFor({ timeout: 60_000 });
      await wb.expand('mnist-cnn-mix');
      await wb.treeRow(/completed/).waitFor({ timeout: 30_000 });
    });

    await step('dashboard of the finished run (epoch axis: whole-number ticks)', async () => {
      await wb.openFile(EXP);
      await wb.command('Distill: Open Dashboard');
      const { frame } = wb.webview('Dashboard');
      await frame.locator('#loss-chart canvas').first().waitFor({ timeout: 60_000 });
      await frame.locator('#acc-chart canvas').first().waitFor({ timeout: 60_000 });
      await waitFor('chart points', async () => /[\d,]+ points of/.test(await frame.locator('#status').innerText()), 60_000);
      await frame.locator('h1#title').hover();
      await picture('dashboard');
    });

    await step('the experiment file with its inline loss values and sparklines', async () => {
      await wb.command('View: Close All Editors');
      await wb.openFile(EXP);
      // the values of the knowledge entries are drawn in view zones above their lines, the labels' after it
      const decos = await waitFor('inline loss values of the four knowledge entries', async () => {
        const text = (await wb.activeEditor().innerText()).replace(/\u00a0/g, ' ');
        const found = ['kd', 'at', 'fitnet', 'rkd-distance'].map((t) => new RegExp(`(^|\\s)${t} \\d[\\d.e-]*`).exec(text)?.[0].trim());
        return found.every(Boolean) && found;
      }, 60_000);
      log('inline values:', decos.join(' | '));
      await wb.focusEditor(EXP);
      await picture('inline-loss');
    });

    await step('layer pairing diagram', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Show Layer Pairing');
      const { frame } = wb.webview('Layer Pairing');
      await frame.locator('[data-side="teacher"][data-layer="conv_2"]').waitFor({ timeout: 90_000 });
      await frame.locator('table', { hasText: 'adapter' }).locator('td', { hasText: 'fitnet' }).first().waitFor({ timeout: 30_000 });
      await frame.locator('h1').first().hover();
      await picture('pairing');
    });

    await step('compression report', async () => {
      await wb.command('View: Close All Editors');
      await wb.openFile(EXP);
      await wb.command('Distill: Show Compression Report');
      const { frame } = wb.webview('Compression');
      await frame.locator('#models').waitFor({ timeout: 60_000 });
      const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8'));
      const acc = `${(report.summary.distill.testAcc.mean * 100).toFixed(2)} %`;
      assert.ok((await frame.locator('#models').innerText()).includes(acc), `distilled test accuracy ${acc} in the table`);
      await frame.locator('h1').first().hover();
      await picture('compression');
    });

    await step('feature maps of the checkpoint', async () => {
      await wb.command('View: Close All Editors');
      await wb.openFile(EXP);
      await wb.command('Distill: Compare Feature Maps');
      const { frame } = wb.webview('Feature Maps');
      await frame.locator('.heatgrid canvas').first().waitFor({ timeout: 120_000 });
      await waitFor('painted heatmaps', async () => {
        const counts = await paintedPixels(frame.locator('.heatgrid canvas'));
        return counts.length > 0 && counts.every((n) => n > 0);
      }, 60_000);
      await frame.locator('h1').first().hover();
      await picture('feature-maps');
    });

    await step('the Sweep panel', async () => {
      await wb.command('View: Close All Editors');
      await wb.showContainer(CONTAINER);
      await wb.expand('width-sweep');
      const row = wb.treeRow(`sweep ${path.basename(sweepDir)}`);
      await row.waitFor({ timeout: 30_000 });
      await row.click();
      const { frame } = wb.webview('width-sweep · sweep');
      await frame.locator('#scatter .dot').first().waitFor({ timeout: 60_000 });
      await waitFor('4 points', async () => (await frame.locator('#scatter .dot').count()) === 4, 30_000);
      await frame.locator('h1#title').hover();
      await picture('sweep-panel');
    });
  });
})();
