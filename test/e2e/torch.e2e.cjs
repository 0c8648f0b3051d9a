/**
 * The PyTorch engine in the real workbench (issues 14 and 15): code-server (VS Code 1.100) in
 * Debian's chromium, the extension loaded from source, a workspace with the PyTorch examples'
 * models.py and pre-trained teacher.pt (examples/torch/) and a short MNIST experiment (500 training
 * images, one epoch). `distill.pythonPath` is /usr/bin/python3 (Debian's torch 1.13) in the
 * workspace's settings, the interpreter of the workbench's probes; the run is the issue's
 * `node dist/cli.js run … --python /usr/bin/python3`, started while the workbench is open.
 * Steps: the run shows in the Experiments tree with its engine and device, its dashboard's loss
 * chart has the run's points, its compression report says torch · cpu with report.json's figures;
 * then on the torch experiment the Layer Pairing panel adds a pair (saved to the file) and Compare
 * Feature Maps draws the run checkpoint's maps. Screenshots in test-output/e2e-torch/.
 * Run by scripts/vscode/e2e.sh test/e2e/torch.e2e.cjs (`npm run test:e2e:torch`).
 * usage: node test/e2e/torch.e2e.cjs <baseUrl> <workspace> <extensionDevelopmentPath>
 */
const assert = require('assert/strict');
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const { launch, openWorkbench, paintedPixels, runSuite, stepper, suite, waitFor } = require('./harness.cjs');
const { Workbench } = require('./workbench.cjs');

const { BASE, WS, DEV, ROOT, SHOTS, t0, log } = suite('torch.e2e.cjs', 'e2e-torch');
const CONTAINER = 'Distill Studio';
const PYTHON = '/usr/bin/python3';
const NAME = 'torch-mnist';
const EXP = `${NAME}.distill.json`;

/** examples/torch/mnist-kd.distill.json made short: 500 training images, one epoch (25 steps: ≈ 60 % test accuracy), no baseline. */
const EXPERIMENT = {
  name: NAME,
  engine: 'torch',
  device: 'cpu',
  seeds: [1],
  data: {
    train: { format: 'mnist', split: 'train', limit: 500 },
    test: { format: 'mnist', split: 'test', limit: 200 },
  },
  teacher: { module: 'models.py', export: 'teacher', weights: 'teacher.pt' },
  student: { module: 'models.py', export: 'student' },
  knowledge: [
    { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
    { kind: 'feature', method: 'at', weight: 100, pairs: [{ teacher: 'features.relu2', student: 'features.relu2' }] },
  ],
  labels: { weight: 0.1 },
  training: { epochs: 1, batchSize: 20, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
  baseline: false,
};

function writeWorkspace() {
  fs.rmSync(WS, { recursive: true, force: true });
  fs.mkdirSync(path.join(WS, '.vscode'), { recursive: true });
  for (const f of ['models.py', 'teacher.pt']) fs.copyFileSync(path.join(ROOT, 'examples', 'torch', f), path.join(WS, f));
  fs.writeFileSync(path.join(WS, EXP), JSON.stringify(EXPERIMENT, null, 2) + '\n');
  fs.writeFileSync(path.join(WS, '.vscode', 'settings.json'), JSON.stringify({ 'distill.pythonPath': PYTHON }, null, 2) + '\n');
}

const runsOf = (name) => {
  const dir = path.join(WS, '.distill', 'runs', name);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'run.json'))).sort().map((d) => path.join(dir, d)) : [];
};
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** `node dist/cli.js run <file> --python /usr/bin/python3`: resolves with its exit code and output. */
function cliRun(file, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = cp.spawn(process.execPath, [path.join(DEV, 'dist', 'cli.js'), 'run', file, '--python', PYTHON], { cwd: WS, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { child.kill('SIGINT'); reject(new Error(`distill run did not finish within ${timeoutMs / 1000} s:\n${out.slice(-2000)}`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** What the dashboard's status line reports ("completed · 25 points of distill-s1"). */
const dashboardStatus = async (frame) => {
  const m = /([\d,]+) points of (\S+)/.exec(await frame.locator('#status').innerText());
  return m ? { points: Number(m[1].replace(/,/g, '')), job: m[2] } : { points: 0, job: '' };
};

const { steps, step } = stepper(log);

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  writeWorkspace();
  const expFile = path.join(WS, EXP);
  const { browser, page, consoleLines } = await launch({ width: 1400, height: 860 });
  const wb = new Workbench(page, SHOTS);
  await runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, async () => {
    await openWorkbench(page, BASE, WS, DEV);

    await step('open the workspace: the torch experiment in the tree', async () => {
      await wb.waitReady(CONTAINER);
      await wb.showContainer(CONTAINER);
      await wb.treeRow(NAME).waitFor({ timeout: 60_000 });
      await wb.shot('workspace');
    });

    let runDir;
    await step('distill run (CLI, /usr/bin/python3) → the run in the tree with its engine and device', async () => {
      const t = Date.now();
      const { code, out } = await cliRun(expFile, 300_000);
      assert.equal(code, 0, `distill run exited with ${code}:\n${out.slice(-3000)}`);
      runDir = runsOf(NAME)[0];
      assert.ok(runDir, 'a run folder in the workspace\'s .distill/runs');
      const run = readJson(path.join(runDir, 'run.json'));
      assert.equal(run.status, 'completed');
      assert.equal(run.backend.name, 'cpu');
      log(`distill run: ${((Date.now() - t) / 1000).toFixed(1)} s, torch ${run.backend.versions.torch}, Python ${run.backend.versions.python}`);
      await wb.showContainer(CONTAINER);
      await wb.expand(NAME);
      const row = wb.treeRow(/completed/);
      await row.waitFor({ timeout: 60_000 });
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      log('tree row:', text);
      assert.match(text, /torch · cpu/, 'the run row names the engine and the device');
      await row.click();
      await wb.shot('tree-torch-run');
    });

    await step('dashboard: the loss chart has the run\'s points', async () => {
      await wb.openFile(EXP);
      await wb.command('Distill: Open Dashboard');
      const { frame } = wb.webview('Dashboard');
      await frame.locator('#loss-chart canvas').first().waitFor({ timeout: 60_000 });
      const steps = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
        .filter((r) => r.type === 'step' && r.job === 'distill-s1').length;
      assert.equal(steps, 25, 'metrics.jsonl: 500 images / batch 20 = 25 logged steps');
      const shown = await waitFor('chart points', async () => (await dashboardStatus(frame)).points || false);
      assert.equal(shown, steps, 'the dashboard shows every logged step of the distill job');
      // the chart is drawn: its canvas has painted pixels
      const chart = frame.locator('#loss-chart canvas').first();
      await chart.waitFor();
      const [painted] = await paintedPixels(chart);
      assert.ok(painted > 0, 'the loss chart is drawn');
      await wb.shot('dashboard-torch');
    });

    await step('compression report: torch · cpu and the figures of report.json', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Show Compression Report');
      const { frame } = wb.webview('Compression');
      const table = frame.locator('#models');
      await table.waitFor({ timeout: 60_000 });
      const note = await frame.locator('.toolbar .note').first().innerText();
      log('compression:', note);
      assert.match(note, /torch engine · cpu/);
      const report = readJson(path.join(runDir, 'report.json'));
      const text = await table.innerText();
      const int = (n) => Math.round(n).toLocaleString('en-US');
      const params = /parameters\s+([^\n]+)/.exec(text)[1];
      assert.ok(params.includes(int(report.teacher.params)), `teacher params ${int(report.teacher.params)} in "${params}"`);
      assert.ok(params.includes(int(report.student.params)), `student params ${int(report.student.params)} in "${params}"`);
      const acc = `${(report.summary.distill.testAcc.mean * 100).toFixed(2)} %`;
      assert.ok(text.includes(acc), `distilled test accuracy ${acc} in the table`);
      await wb.shot('compression-torch');
    });

    await step('pairing on the torch experiment: add a pair by clicking → saved to the file', async () => {
      const before = fs.readFileSync(expFile, 'utf8');
      await wb.focusEditor(EXP);
      await wb.command('Distill: Show Layer Pairing');
      const { frame } = wb.webview('Layer Pairing');
      // the torch module paths, from the probe process on distill.pythonPath
      await frame.locator('[data-side="teacher"][data-layer="features.relu1"]').click({ timeout: 120_000 });
      await frame.locator('[data-side="student"][data-layer="features.relu1"]').click();
      await frame.locator('#add-pair').click();
      await frame.locator('table', { hasText: 'adapter' }).locator('td', { hasText: 'features.relu1' }).first().waitFor({ timeout: 60_000 });
      await wb.shot('pairing-torch-added');
      await wb.focusEditor(EXP);
      await page.keyboard.press('Control+S');
      const added = await waitFor('the pair saved to disk', () => { const t = fs.readFileSync(expFile, 'utf8'); return t !== before && t; });
      assert.match(added, /"pairs": \[\{ "teacher": "features.relu1", "student": "features.relu1" \}\]/);
    });

    await step('feature maps of the run\'s checkpoint: heatmaps drawn', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Compare Feature Maps');
      const { frame } = wb.webview('Feature Maps');
      await frame.locator('.heatgrid canvas').first().waitFor({ timeout: 120_000 });
      const painted = await waitFor('painted heatmap pixels', async () => {
        const counts = await paintedPixels(frame.locator('.heatgrid canvas'));
        return counts.length > 0 && counts.every((n) => n > 0) && counts;
      });
      log(`feature maps: ${painted.length} heatmaps, ${painted.reduce((a, b) => a + b, 0)} painted pixels`);
      await wb.shot('feature-maps-torch');
    });
  });
})();
