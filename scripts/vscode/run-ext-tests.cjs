// Runs the extension-host suite inside the REMOTE Node extension host of code-server, the way
// @vscode/test-electron does with extensionDevelopmentPath/extensionTestsPath: the browser
// workbench takes them from the `payload` query parameter, and the exit code comes back through
// window.codeAutomationExit. The extension host's console (the mocha reporter) is printed here.
// usage: node run-ext-tests.cjs <baseUrl> <workspace> <extensionDevelopmentPath> <extensionTestsPath(.js)>
const util = require('util');
const { chromium } = require('playwright-core');

const [BASE, FOLDER, DEV, TESTS] = process.argv.slice(2);
if (!TESTS) { console.error('usage: run-ext-tests.cjs <baseUrl> <workspace> <extensionDevelopmentPath> <extensionTestsPath>'); process.exit(2); }
const TIMEOUT_MS = +(process.env.EXT_TEST_TIMEOUT_MS || 600000);
const NOISE = /^(Resolving|Resolved|Creating a socket|Updating additional|\[Service Worker\]|ChatSessionStore|Ignoring fetching additional|Overwriting extension|The web worker extension host|An iframe which has both|Found unexpected service worker|Failed to load resource)/;

(async () => {
  const authority = new URL(BASE).host;                 // code-server's remote authority = host:port of the page
  const remote = (p) => `vscode-remote://${authority}${p}`;
  const payload = [['extensionDevelopmentPath', remote(DEV)], ['extensionTestsPath', remote(TESTS)]];
  const url = `${BASE}/?folder=${encodeURIComponent(FOLDER)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROME || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-crash-reporter', '--disable-breakpad'],
  });
  const page = await browser.newPage();
  let done;
  const finished = new Promise((r) => (done = r));
  await page.exposeFunction('codeAutomationExit', (code) => done(code));
  // Extension-host console output arrives as ('%c INFO', 'color: …', fmt, ...args): re-format it.
  let chain = Promise.resolve();                        // sequential => keeps the output in order
  page.on('console', (m) => { chain = chain.then(async () => {
    if (process.env.VERBOSE) { console.log(`[${m.type()}] ${m.text()}`); return; }
    let args;
    try { args = await Promise.all(m.args().map((a) => a.jsonValue())); } catch { args = [m.text()]; }
    if (typeof args[0] === 'string' && args[0].startsWith('%c')) args = args.slice(2);
    const line = util.format(...args);
    if (line.trim() && !NOISE.test(line.trim())) console.log(line);
  }).catch(() => {}); });
  await page.goto(url);
  const code = await Promise.race([finished, new Promise((r) => setTimeout(() => r('timeout'), TIMEOUT_MS))]);
  await new Promise((r) => setTimeout(r, 300)); await chain;   // flush forwarded console output first
  console.log(`extension tests finished: exit code ${code}`);
  await browser.close();
  process.exit(code === 0 ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
