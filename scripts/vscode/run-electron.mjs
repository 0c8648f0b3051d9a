// `npm run test:electron`: the same extension-host suite in desktop VS Code via @vscode/test-electron
// (downloads VS Code: for machines with internet access; here use `npm run test:vscode`).
import { runTests } from '@vscode/test-electron';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { fileURLToPath } from 'url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ws = path.join(root, '.e2e', 'ws');
execFileSync(process.execPath, [path.join(root, 'esbuild.mjs')], { stdio: 'inherit', cwd: root });
execFileSync(process.execPath, [path.join(root, 'scripts', 'vscode', 'build-tests.mjs')], { stdio: 'inherit', cwd: root });
execFileSync('npx', ['tsx', 'test/vscode/fixture.ts', ws], { stdio: 'inherit', cwd: root });
try {
  await runTests({
    version: process.env.VSCODE_VERSION ?? 'stable',
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, '.e2e', 'out', 'test', 'vscode', 'index.js'),
    launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
  });
} catch (e) {
  console.error('extension tests failed:', e);
  process.exit(1);
}
