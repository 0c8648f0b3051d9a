/**
 * Smoke test of the packaged extension (scripts/vscode/package-smoke.sh): code-server with the .vsix
 * installed (--install-extension) and no development copy. Activation (the Experiments view), a
 * command from the palette (Run Experiment), and a short synthetic run through the installed
 * extension's engine worker (run.json completed, report.json written).
 * usage: node package.smoke.cjs --workspace <dir>            (writes the workspace)
 *        node package.smoke.cjs <baseUrl> <workspace> <extensionsDir>
 */
const assert = require('assert/strict');
const fs = require('fs');
const path = require('path');
const ROOT = path.resolve(__dirname, '..', '..');

if (process.argv[2] === '--workspace') {
  const ws = process.argv[3];
  fs.rmSync(ws, { recursive: true, force: true });
  fs.mkdirSync(ws, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'examples', 'models.ts'), path.join(ws, 'models.ts'));
  const vectors = (samples, seed) => ({ format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed });
  fs.writeFileSync(path.join(ws, 'smoke.distill.json'), JSON.stringify({
    name: 'smoke', seeds: [1],
    data: { train: vectors(512, 1), test: vectors(128, 2), normalize: 'none' },
    teacher: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [8], classes: 4 } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    baseline: false,
  }, null, 2) + '\n');
  process.exit(0);
}

const { chromium } = require('playwright-core');
const { Workbench } = require('./workbench.cjs');

const [BASE, WS, EXTENSIONS] = process.argv.slice(2);
const SHOTS = path.join(ROOT, 'test-output', 'e2e-package');
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  const installed = fs.readdirSync(EXTENSIONS).filter((d) => d.startsWith('distill-studio.distill-studio-'));
  assert.equal(installed.length, 1, `one installed copy in ${EXTENSIONS}: ${installed.join(', ')}`);
  const extDir = path.join(EXTENSIONS, installed[0]);
  assert.ok(fs.existsSync(path.join(extDir, 'dist', 'worker.js')), 'the installed extension has its engine worker');
  assert.ok(fs.existsSync(path.join(extDir, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist', 'tfjs-backend-wasm-simd.wasm')), 'wasm binaries inside');
  assert.ok(!fs.existsSync(path.join(extDir, 'node_modules', 'esbuild')), 'no native esbuild inside');
  log(`installed: ${extDir}`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROME || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-crash-reporter', '--disable-breakpad'],
  });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 860 } })).newPage();
  page.setDefaultTimeout(30_000);
  const wb = new Workbench(page, SHOTS);
  let failed = false;
  try {
    await page.goto(`${BASE}/?folder=${encodeURIComponent(WS)}`);
    await wb.waitReady('Distill Studio');
    await wb.showContainer('Distill Studio');
    await wb.treeRow('smoke').waitFor({ timeout: 60_000 });
    log('activated: the Experiments tree lists smoke');
    await wb.openFile('smoke.distill.json');
    await wb.command('Distill: Run Experiment');
    const runs = path.join(WS, '.distill', 'runs', 'smoke');
    const runDir = await (async () => {
      for (const end = Date.now() + 120_000; Date.now() < end; await page.waitForTimeout(500)) {
        const d = fs.existsSync(runs) ? fs.readdirSync(runs).map((x) => path.join(runs, x)).find((x) => fs.existsSync(path.join(x, 'run.json'))) : undefined;
        if (d) {
          const r = JSON.parse(fs.readFileSync(path.join(d, 'run.json'), 'utf8'));
          if (r.status === 'failed') throw new Error(`the run failed: ${r.error}`);
          if (r.status === 'completed') return d;
        }
      }
      throw new Error('the run did not complete in 120 s');
    })();
    const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8'));
    log(`run completed by the installed worker: backend ${report.backend}, student ${report.student.params} params`);
    await page.locator('.notification-toast', { hasText: 'completed' }).first().waitFor();
    await wb.shot('installed-run-completed');
    console.log('PACKAGE SMOKE OK');
  } catch (e) {
    failed = true;
    console.error('PACKAGE SMOKE FAILED:', e);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'failure.png') }).catch(() => {});
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
