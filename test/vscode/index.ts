/**
 * Entry point of the extension-host suite (extensionTestsPath): runs every built `*.test.js` of
 * this folder with mocha (tdd UI) INSIDE the VS Code extension host, the way
 * @vscode/test-electron does. Launchers: scripts/vscode/test.sh (code-server + chromium, here)
 * and scripts/vscode/run-electron.mjs (@vscode/test-electron, where VS Code can be downloaded).
 */
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 120_000, reporter: 'spec' });
  const grep = process.env.DISTILL_TEST_GREP;
  if (grep) mocha.grep(grep);
  for (const f of fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      console.log(`extension-host suite: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures} failure(s)`);
      if (failures) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    });
  });
}
