/**
 * What the UI suites share (ui, trust, firsthour): polling with a deadline, Debian's chromium with
 * the flags this machine needs (no background networking, no crash reporter), the console of the
 * page kept for the failure log, the workbench opened on a folder with the extension under
 * development, and named steps with their timing.
 */
const { chromium } = require('playwright-core');

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

/** Named steps: each timed and logged; `steps` lists them for the summary. */
function stepper(log) {
  const steps = [];
  async function step(name, body) {
    const s = Date.now();
    await body();
    steps.push({ name, seconds: (Date.now() - s) / 1000 });
    log(`ok  ${name} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
  }
  return { steps, step };
}

module.exports = { waitFor, launch, openWorkbench, stepper };
