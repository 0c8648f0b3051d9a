/**
 * UI tests in the real workbench: code-server (VS Code 1.100) in Debian's chromium, the extension
 * loaded from source (extensionDevelopmentPath in the workbench `payload`), a temp workspace of
 * synthetic-data experiments (runs take seconds). Each step saves a screenshot in test-output/e2e/.
 * Run by scripts/vscode/e2e.sh (`npm run test:e2e`), which starts and stops code-server.
 * usage: node test/e2e/ui.e2e.cjs <baseUrl> <workspace> <extensionDevelopmentPath>
 */
const assert = require('assert/strict');
const fs = require('fs');
const path = require('path');
const { launch, openWorkbench, paintedPixels, runSuite, stepper, suite, waitFor } = require('./harness.cjs');
const { Workbench } = require('./workbench.cjs');
const { writeWorkspace, TINY_EXPERIMENT_DATA } = require('./workspace.cjs');

const { BASE, WS, DEV, ROOT, SHOTS, t0, log } = suite('ui.e2e.cjs', 'e2e');
const CONTAINER = 'Distill Studio';


const runsOf = (name) => {
  const dir = path.join(WS, '.distill', 'runs', name);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'run.json'))).sort().map((d) => path.join(dir, d)) : [];
};
const runJson = (runDir) => JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));

/** What the dashboard's status line reports ("running · 1,234 points of distill-s1"). */
const dashboardStatus = async (frame) => {
  const m = /([\d,]+) points of (\S+)/.exec(await frame.locator('#status').innerText());
  return m ? { points: Number(m[1].replace(/,/g, '')), job: m[2] } : { points: 0, job: '' };
};

const { steps, step } = stepper(log);

(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  writeWorkspace(WS, ROOT);
  const { browser, page, consoleLines } = await launch({ width: 1400, height: 860 });
  const wb = new Workbench(page, SHOTS);
  await runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, async () => {
    await openWorkbench(page, BASE, WS, DEV);

    await step('open the workspace', async () => {
      await wb.waitReady(CONTAINER);
      await wb.showContainer(CONTAINER);
      await wb.treeRow('long').waitFor({ timeout: 60_000 });
      await wb.shot('workspace');
    });

    const EXP = 'tiny-kd.distill.json';
    const expFile = path.join(WS, EXP);
    await step('palette: Distill: New Experiment beside a model file; the tree shows it', async () => {
      await wb.openFile('tiny.ts');
      // the teacher and the student export are asked for (issue 20): the guesses are accepted
      await wb.commandWithPicks('Distill: New Experiment', ['the teacher', 'the student']);
      await wb.editorTab(EXP).waitFor();
      await waitFor('the new experiment on disk', () => fs.existsSync(expFile));
      const text = fs.readFileSync(expFile, 'utf8');
      assert.match(text, /"module": "tiny.ts", "export": "teacher"/);
      assert.match(text, /"module": "tiny.ts", "export": "student"/);
      await wb.treeRow('tiny-kd').waitFor();
      await wb.shot('new-experiment');
      // the user switches the template to quick synthetic data (the template trains on MNIST)
      fs.writeFileSync(expFile, TINY_EXPERIMENT_DATA(text));
      await wb.focusEditor(EXP);
      await wb.command('File: Revert File');
      await waitFor('the editor shows the edited file', async () => /"kind": "vectors"/.test(await wb.editorText()), 15_000);
    });

    await step('pairing diagram: add a pair by clicking → file changed on disk; undo restores it', async () => {
      const before = fs.readFileSync(expFile, 'utf8');
      await wb.focusEditor(EXP);
      await wb.command('Distill: Show Layer Pairing');
      const { frame } = wb.webview('Layer Pairing');
      await frame.locator('[data-side="teacher"][data-layer="hidden"]').click({ timeout: 60_000 });
      await frame.locator('[data-side="student"][data-layer="hidden"]').click();
      await frame.locator('#add-pair').click();
      await frame.locator('table', { hasText: 'adapter' }).locator('td', { hasText: 'fitnet' }).first().waitFor();
      await wb.shot('pairing-added');
      await wb.focusEditor(EXP);
      await page.keyboard.press('Control+S');
      const added = await waitFor('the pair saved to disk', () => { const t = fs.readFileSync(expFile, 'utf8'); return t !== before && t; });
      assert.match(added, /"method": "fitnet".*"pairs": \[\{ "teacher": "hidden", "student": "hidden" \}\]/);
      await page.keyboard.press('Control+Z');
      await page.keyboard.press('Control+S');
      await waitFor('undo restored the file on disk', () => fs.readFileSync(expFile, 'utf8') === before, 15_000);
      await wb.shot('pairing-undone');
      // redo: keep the pair for the run (feature maps need one)
      await page.keyboard.press('Control+Shift+Z');
      await page.keyboard.press('Control+S');
      await waitFor('redo saved', () => /"fitnet"/.test(fs.readFileSync(expFile, 'utf8')), 15_000);
    });

    let runDir;
    await step('run it: status bar, tree, the dashboard (every step) and inline loss decorations', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Run Experiment');
      runDir = await waitFor('a run folder', () => runsOf('tiny-kd')[0]);
      const status = page.locator('.statusbar-item', { hasText: /epoch \d+\/\d+ · loss/ });
      await status.waitFor({ timeout: 90_000 });
      log('status bar:', (await status.innerText()).trim());
      await wb.expand('tiny-kd');
      await wb.treeRow(/running/).waitFor();
      await waitFor('the run completed', () => runJson(runDir).status === 'completed' || (runJson(runDir).status === 'failed' && assert.fail(runJson(runDir).error)), 180_000);
      await wb.focusEditor(EXP);
      await wb.command('Distill: Open Dashboard');
      const { frame } = wb.webview('Dashboard');
      await frame.locator('#loss-chart canvas').first().waitFor({ timeout: 60_000 });
      // every step of the job shown (logEvery 1): 4 epochs of 896 steps
      const shown = await waitFor('chart points', async () => (await dashboardStatus(frame)).points || false);
      assert.equal(shown, 4 * 896, 'the dashboard shows every logged step of the job');
      await wb.shot('dashboard-completed');
      // inline loss decorations after the knowledge entries in the experiment file
      await wb.focusEditor(EXP);
      const decos = await waitFor('inline loss decorations', async () => { const d = await wb.afterDecorations(); return d.some((c) => /\d\.\d/.test(c)) && d; }, 30_000);
      log('inline decorations:', decos.join(' | '));
      await wb.treeRow(/completed/).waitFor();
      await wb.shot('inline-loss-decorations');
    });

    await step('feature maps: heatmaps painted', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Compare Feature Maps');
      const { frame } = wb.webview('Feature Maps');
      await frame.locator('.heatgrid canvas').first().waitFor({ timeout: 90_000 });
      const painted = await waitFor('painted heatmap pixels', async () => {
        const counts = await paintedPixels(frame.locator('.heatgrid canvas'));
        return counts.length > 0 && counts.every((n) => n > 0) && counts;
      });
      log(`feature maps: ${painted.length} heatmaps, ${painted.reduce((a, b) => a + b, 0)} painted pixels`);
      await wb.shot('feature-maps');
    });

    await step('compression report: numbers equal report.json', async () => {
      await wb.focusEditor(EXP);
      await wb.command('Distill: Show Compression Report');
      const { frame } = wb.webview('Compression');
      const table = frame.locator('#models');
      await table.waitFor({ timeout: 60_000 });
      const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8'));
      const text = await table.innerText();
      const int = (n) => Math.round(n).toLocaleString('en-US');
      const params = /parameters\s+([^\n]+)/.exec(text)[1];
      assert.ok(params.includes(int(report.teacher.params)), `teacher params ${int(report.teacher.params)} in "${params}"`);
      assert.ok(params.includes(int(report.student.params)), `student params ${int(report.student.params)} in "${params}"`);
      assert.ok(text.includes(`×${report.compression.params.toFixed(1)}`), `compression ×${report.compression.params.toFixed(1)}`);
      const acc = `${(report.summary.distill.testAcc.mean * 100).toFixed(2)} %`;
      assert.ok(text.includes(acc), `distilled test accuracy ${acc} in the table`);
      log(`compression: params ${int(report.teacher.params)} → ${int(report.student.params)} (×${report.compression.params.toFixed(1)}), distilled ${acc}`);
      await wb.shot('compression-report');
    });

    await step('a second (long) run: the dashboard follows it live; stop → cancelled and resumable', async () => {
      await wb.openFile('long.distill.json');
      await wb.command('Distill: Run Experiment');
      const dir = await waitFor('the long run folder', () => runsOf('long')[0]);
      await page.locator('.statusbar-item', { hasText: /epoch \d+\/\d+ · loss/ }).waitFor({ timeout: 90_000 });
      await wb.showContainer(CONTAINER);
      await wb.expand(/^long/);
      // The run's row says "running" while the engine trains. Should it not show up, the error
      // carries what the tree and run.json said, and the row is expanded again if it collapsed.
      let seen = '';
      await waitFor('a "running" row under long', async () => {
        if (await wb.treeRow(/running/).isVisible()) return true;
        const texts = (await wb.treeTexts()).map((t) => t.replace(/\s+/g, ' ')).join(' | ');
        if (texts !== seen) log(`tree: ${texts} (run.json: ${runJson(dir).status})`);
        seen = texts;
        const longRow = wb.treeRow(/^long/);
        if ((await longRow.getAttribute('aria-expanded').catch(() => null)) === 'false') await wb.expand(/^long/);
        return false;
      }, 60_000, 500).catch((e) => {
        throw new Error(`${e.message}; tree: ${seen}; run.json: ${JSON.stringify(runJson(dir))}`);
      });
      await wb.shot('long-running');
      // the dashboard follows the run live: its chart grows while the engine trains
      await wb.focusEditor('long.distill.json');
      await wb.command('Distill: Open Dashboard');
      const { frame } = wb.webview('Dashboard');
      await frame.getByText(/Dashboard: long/).first().waitFor({ timeout: 60_000 });
      await frame.locator('#loss-chart canvas').first().waitFor({ timeout: 60_000 });
      let first = await waitFor('chart points', async () => (await dashboardStatus(frame)).points > 0 && dashboardStatus(frame));
      await wb.shot('running-dashboard');
      // the chart grows; when the run moves on to its next job, the dashboard follows it
      const later = await waitFor('the chart grows', async () => {
        const now = await dashboardStatus(frame);
        if (now.job !== first.job) {
          log(`dashboard: ${first.points} points of ${first.job}, now following ${now.job}`);
          first = now;
          return false;
        }
        return now.points > first.points && now;
      }, 90_000);
      log(`dashboard: ${first.points} → ${later.points} points of ${later.job}`);
      assert.equal(runJson(dir).status, 'running');
      await wb.showContainer(CONTAINER);
      await wb.treeContextMenu(/running/, 'Stop Run');
      await waitFor('the run cancelled', () => runJson(dir).status === 'cancelled', 60_000);
      const row = await waitFor('a cancelled run row', async () => { const r = wb.treeRow(/cancelled/); return (await r.isVisible()) && r; });
      const entries = await wb.contextMenuEntries(/cancelled/);
      assert.ok(entries.includes('Resume Run'), `Resume Run offered: ${entries.join(', ')}`);
      await row.click();
      await wb.shot('long-cancelled');
    });

    await step('a broken experiment → the Problems panel lists the error at its line', async () => {
      await wb.openFile('broken.distill.json');
      const want = fs.readFileSync(path.join(WS, 'broken.distill.json'), 'utf8').split('\n').findIndex((l) => l.includes('"temperature": -1')) + 1;
      const rows = await wb.problems();
      const row = await waitFor('the temperature problem', async () => {
        for (const t of await rows.allInnerTexts()) if (/temperature/.test(t)) return t;
        return false;
      }, 30_000);
      log('problem:', row.replace(/\s+/g, ' '));
      assert.match(row, new RegExp(`\\[Ln ${want}, Col \\d+\\]`), `the problem is on line ${want}`);
      await wb.shot('problems');
    });
  });
})();
