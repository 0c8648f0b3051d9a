/**
 * Restricted Mode in the real workbench: code-server with workspace trust ON (started by
 * scripts/vscode/e2e-trust.sh), a folder whose model module `evil.ts` writes a marker file when it
 * is loaded, and two runs of its experiment made beforehand with the CLI (as a user would have, in
 * their own terminal). The folder is opened and NOT trusted; every Distill command and every panel
 * is opened; the marker never appears — runs and the engine check are refused, the panels read the
 * run folders and say in the panel why models are not shown. Then trust is granted from the
 * pairing panel's button: the open panel shows the layers (no reload), and the module runs then.
 * usage: node test/e2e/trust.e2e.cjs <baseUrl> <workspace> <extensionDevelopmentPath>
 */
const assert = require('assert/strict');
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const { launch, openWorkbench, runSuite, stepper, suite, waitFor } = require('./harness.cjs');
const { Workbench } = require('./workbench.cjs');

const { BASE, WS, DEV, ROOT, SHOTS, t0, log } = suite('trust.e2e.cjs', 'e2e-trust');
const CONTAINER = 'Distill Studio';
const MARKER = `${WS.replace(/\/$/, '')}-marker.txt`;
const EXP = 'trust.distill.json';


const EVIL_TS = `/** Loading this module leaves a marker: the test's witness that workspace code ran. */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';

fs.appendFileSync(${JSON.stringify(MARKER)}, 'loaded by pid ' + process.pid + '\\n');

export function teacher(_tf: typeof tf): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 24, activation: 'relu', inputShape: [16], name: 'hidden' }));
  model.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return model;
}

export function student(_tf: typeof tf): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [16], name: 'hidden' }));
  model.add(tf.layers.dense({ units: 4, name: 'logits' }));
  return model;
}
`;

const synthetic = (samples, seed) => ({ format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed });
const EXPERIMENT = {
  name: 'trust',
  seeds: [1],
  data: { train: synthetic(256, 1), test: synthetic(128, 2), validation: { fraction: 0.125 }, normalize: 'none' },
  teacher: { module: 'evil.ts', export: 'teacher', train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
  student: { module: 'evil.ts', export: 'student' },
  knowledge: [
    { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
    { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'hidden', student: 'hidden' }] },
  ],
  labels: { weight: 0.1 },
  training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
  baseline: false,
};

/** The workspace, with two runs made by the CLI (the user's own terminal: no workspace trust there). */
function writeWorkspace() {
  fs.rmSync(WS, { recursive: true, force: true });
  fs.mkdirSync(WS, { recursive: true });
  fs.writeFileSync(path.join(WS, 'evil.ts'), EVIL_TS);
  fs.writeFileSync(path.join(WS, EXP), JSON.stringify(EXPERIMENT, null, 2) + '\n');
  for (let i = 0; i < 2; i++) {
    cp.execFileSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'run', path.join(WS, EXP)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DISTILL_TEACHER_THREAD: '0' } });
  }
  assert.ok(fs.existsSync(MARKER), 'the CLI runs loaded the module (the witness works)');
  fs.rmSync(MARKER);
}

const runsOf = () => {
  const dir = path.join(WS, '.distill', 'runs', 'trust');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'run.json'))).sort() : [];
};
const assertNoMarker = (after) => assert.ok(!fs.existsSync(MARKER), `the workspace's model module ran (after ${after}): ${fs.existsSync(MARKER) ? fs.readFileSync(MARKER, 'utf8') : ''}`);

const { steps, step } = stepper(log);

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.rmSync(MARKER, { force: true });
  writeWorkspace();
  const runsBefore = runsOf();
  const { browser, page, consoleLines } = await launch({ width: 1400, height: 860 });
  const wb = new Workbench(page, SHOTS);
  /** Runs a palette command, then closes whatever quick pick or dialog it opened. */
  const command = async (title) => {
    await wb.command(title);
    for (const sel of ['.quick-input-widget', '.monaco-dialog-box']) {
      if (await page.locator(sel).first().isVisible().catch(() => false)) await page.keyboard.press('Escape');
    }
  };
  const toast = (re) => page.locator('.notification-toast', { hasText: re }).first();
  const clearToasts = async () => {
    await wb.command('Notifications: Clear All Notifications').catch(() => undefined);
  };
  await runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, async () => {
    await openWorkbench(page, BASE, WS, DEV);

    await step('open the folder and answer "No, I don\'t trust the authors": Restricted Mode', async () => {
      await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
      const no = page.getByRole('button', { name: /No, I don.t trust the authors/ });
      const restricted = page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first();
      // the trust dialog comes a little after the workbench (Restricted Mode is shown meanwhile)
      await no.waitFor({ timeout: 90_000 });
      await wb.shot('trust-dialog');
      await no.click();
      await page.locator('.monaco-dialog-box').waitFor({ state: 'hidden' });
      await restricted.waitFor();
      await wb.waitReady(CONTAINER);
      await wb.showContainer(CONTAINER);
      await wb.treeRow('trust').waitFor({ timeout: 60_000 });
      await wb.shot('restricted-mode');
    });

    await step('the experiment opens: Problems from the validator only, no engine check', async () => {
      await wb.openFile(EXP);
      await wb.command('Distill: Refresh Experiments');
      assertNoMarker('opening the experiment');
    });

    await step('Run Experiment and Resume Run: refused with the reason, nothing started', async () => {
      await wb.focusEditor(EXP);
      await command('Distill: Run Experiment');
      await toast(/trust the folder/).waitFor();
      await wb.shot('run-refused');
      await clearToasts();
      await command('Distill: Resume Run');
      await toast(/trust the folder/).waitFor();
      await clearToasts();
      assert.deepEqual(runOfNow(), runsBefore, 'no run folder was created');
      assertNoMarker('Run and Resume');
    });

    await step('Layer Pairing: the panel says why, with a trust button; Suggest Layer Pairs too', async () => {
      await wb.focusEditor(EXP);
      await command('Distill: Show Layer Pairing');
      const { frame } = wb.webview('Layer Pairing');
      const banner = frame.locator('#restricted');
      await banner.waitFor({ timeout: 90_000 });
      assert.match(await banner.innerText(), /runs this folder's code — trust the folder/);
      await frame.locator('#trust-folder').waitFor();
      assert.equal(await frame.locator('[data-side="teacher"]').count(), 0, 'no layers shown');
      await wb.shot('pairing-restricted');
      await wb.focusEditor(EXP);
      await command('Distill: Suggest Layer Pairs');
      await frame.locator('#restricted').waitFor();
      assertNoMarker('the pairing panel');
    });

    await step('Dashboard, Feature Maps, Compression Report, Compare Runs: run folders still read', async () => {
      await wb.focusEditor(EXP);
      await command('Distill: Open Dashboard');
      await wb.webview('Dashboard').frame.locator('#loss-chart canvas').first().waitFor({ timeout: 60_000 });
      await wb.shot('dashboard-restricted');

      await wb.focusEditor(EXP);
      await command('Distill: Compare Feature Maps');
      const fm = wb.webview('Feature Maps').frame;
      // either the maps (plain model.json checkpoints) or the reason, never the module
      await waitFor('feature maps or the reason', async () => (await fm.locator('.heatgrid canvas, #restricted, .notice.error').count()) > 0, 90_000);
      await wb.shot('feature-maps-restricted');

      await wb.focusEditor(EXP);
      await command('Distill: Show Compression Report');
      const cr = wb.webview('Compression').frame;
      await cr.locator('#models').waitFor({ timeout: 60_000 });
      await wb.shot('compression-restricted');

      await command('Distill: Compare Runs');
      const all = page.locator('.quick-input-widget .quick-input-check-all');
      if (await all.isVisible().catch(() => false)) {
        await all.check();
        await page.keyboard.press('Enter');
        await wb.webview('Compare').frame.locator('body').waitFor();
      }
      assertNoMarker('the panels');
    });

    await step('every other Distill command: nothing loads the module', async () => {
      for (const title of ['Distill: Stop Run', 'Distill: Export Student', 'Distill: Delete Run', 'Distill: Select Compute Backend',
        'Distill: Show Engine Log', 'Distill: Refresh Experiments']) {
        await command(title);
        await page.keyboard.press('Escape');
      }
      await wb.openFile('evil.ts');
      await wb.commandWithPicks('Distill: New Experiment', ['the teacher', 'the student']); // issue 20: the exports are asked for
      const created = path.join(WS, 'evil-kd.distill.json');
      await waitFor('the new experiment', () => fs.existsSync(created));
      await wb.editorTab('evil-kd.distill.json').waitFor();
      await page.keyboard.press('Control+S');
      await wb.shot('new-experiment-restricted');
      assert.deepEqual(runOfNow(), runsBefore, 'no run folder was created');
      assertNoMarker('every command');
    });

    await step('trust granted from the pairing panel\'s button: the layers show, without a reload', async () => {
      await wb.focusEditor(EXP);
      await command('Distill: Show Layer Pairing');
      let frame = wb.webview('Layer Pairing').frame;
      await frame.locator('#trust-folder').click();
      const trust = page.getByRole('button', { name: 'Trust', exact: true }).first();
      await trust.waitFor({ timeout: 30_000 });
      await wb.shot('trust-editor');
      await trust.click();
      await waitFor('Restricted Mode gone', async () => !(await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().isVisible()), 30_000);
      await wb.editorTab('— pairing').click(); // tab: "<experiment> — pairing" (issue 20: short titles)
      frame = wb.webview('Layer Pairing').frame;
      await frame.locator('[data-side="teacher"][data-layer="hidden"]').waitFor({ timeout: 90_000 });
      await frame.locator('[data-side="student"][data-layer="hidden"]').waitFor();
      assert.equal(await frame.locator('#restricted').count(), 0, 'the banner is gone');
      await waitFor('the module ran once trusted', () => fs.existsSync(MARKER), 30_000);
      log('marker:', fs.readFileSync(MARKER, 'utf8').trim().replace(/\n/g, ' | '));
      await wb.shot('pairing-trusted');
    });
  });
})();

function runOfNow() {
  return runsOf();
}
