/**
 * What the UI suites share (ui, trust, firsthour): their arguments and a clock-stamped log, polling
 * with a deadline, Debian's chromium with the flags this machine needs (no background networking,
 * no crash reporter), the console of the page kept for the failure log, the workbench opened on a
 * folder with the extension under development, named steps with their timing, and the end of a run
 * (failure screenshot, browser console, summary, exit code).
 */
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * A suite's arguments (`<baseUrl> <workspace> <extensionDevelopmentPath>`; usage and exit 2 without
 * them), its screenshot folder `test-output/<shots>`, and a log stamped with seconds since start.
 */
function suite(file, shots) {
  const [BASE, WS, DEV] = process.argv.slice(2);
  if (!DEV) {
    console.error(`usage: ${file} <baseUrl> <workspace> <extensionDevelopmentPath>`);
    process.exit(2);
  }
  const t0 = Date.now();
  const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
  return { BASE, WS, DEV, ROOT, SHOTS: path.join(ROOT, 'test-output', shots), t0, log };
}

/** Polls `pred` until it returns a truthy value (or throws after `timeoutMs`). */
async function waitFor(what, pred, timeoutMs = 60_000, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Headless chromium and one page of `viewport`; `consoleLines` collects what the page logs. */
async function launch(viewport) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROME || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-crash-reporter', '--disable-breakpad'],
  });
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  return { browser, page, consoleLines };
}

/** Opens the workbench on folder `ws` with the extension loaded from `dev` (extensionDevelopmentPath). */
function openWorkbench(page, base, ws, dev) {
  const payload = [['extensionDevelopmentPath', `vscode-remote://${new URL(base).host}${dev}`]];
  return page.goto(`${base}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
}

/**
 * Named steps: each timed and logged; `steps` lists them for the summary. The first failing step
 * ends the suite (its error goes to recordFailure) — unless E2E_KEEP_GOING=1: then a failing step is
 * recorded with its message, its `recover` (if any) puts the workbench back in order, and the next
 * step runs. That shows every step that fails on an older commit, each with its own message.
 */
function stepper(log, { keepGoing = process.env.E2E_KEEP_GOING === '1' } = {}) {
  const steps = [];
  async function step(name, body, recover) {
    const s = Date.now();
    try {
      await body();
    } catch (e) {
      if (!keepGoing) throw e;
      const seconds = (Date.now() - s) / 1000;
      // one line, without the terminal colours of playwright's call log
      const error = String((e && e.message) || e).replace(/\u001b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').slice(0, 600);
      steps.push({ name, seconds, error });
      log(`FAIL ${name} (${seconds.toFixed(1)} s): ${error}`);
      if (recover) await recover().catch((r) => log(`  (recovery after the failed step failed too: ${r.message})`));
      return;
    }
    steps.push({ name, seconds: (Date.now() - s) / 1000 });
    log(`ok  ${name} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
  }
  return { steps, step, keepGoing };
}

/** A failed suite: the error, and a screenshot of the page as it was. */
async function recordFailure(e, page, shots) {
  console.error('E2E FAILED:', e);
  await page.screenshot({ path: path.join(shots, 'failure.png') }).catch(() => {});
}

/** Keeps the page's console beside the screenshots and closes the browser. */
async function closeBrowser(browser, consoleLines, shots) {
  fs.writeFileSync(path.join(shots, 'browser-console.log'), consoleLines.join('\n'));
  await browser.close();
}

/** Prints every step with its time and the outcome, and exits 1 when the suite failed. */
function summarize({ steps, failed, t0, SHOTS }) {
  console.log('\nsteps:');
  for (const s of steps) {
    console.log(`  ${s.seconds.toFixed(1).padStart(6)} s  ${s.error ? 'FAIL ' : ''}${s.name}`);
    if (s.error) console.log(`             ${s.error}`);
  }
  const failedSteps = steps.filter((s) => s.error).length;
  failed = failed || failedSteps > 0;
  if (failedSteps) console.log(`${failedSteps} of ${steps.length} steps failed (E2E_KEEP_GOING=1)`);
  console.log(`screenshots: ${path.relative(ROOT, SHOTS)}/ (${fs.readdirSync(SHOTS).filter((f) => f.endsWith('.png')).length})`);
  console.log(failed ? 'E2E FAILED' : `E2E OK (${steps.length} steps, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed ? 1 : 0);
}

/** Painted (non-transparent) pixels of each canvas the locator matches: a chart or heatmap that was drawn has some. */
function paintedPixels(canvases) {
  return canvases.evaluateAll((cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  }));
}

/**
 * Runs a suite's body in the launched browser: a failure is recorded (error and screenshot), the
 * browser closes either way with its console kept, and the summary prints the steps and exits.
 */
async function runSuite({ browser, page, consoleLines, steps, t0, SHOTS }, body) {
  let failed = false;
  try {
    await body();
  } catch (e) {
    failed = true;
    await recordFailure(e, page, SHOTS);
  } finally {
    await closeBrowser(browser, consoleLines, SHOTS);
  }
  summarize({ steps, failed, t0, SHOTS });
}

module.exports = { suite, waitFor, launch, openWorkbench, stepper, recordFailure, closeBrowser, summarize, runSuite, paintedPixels };
