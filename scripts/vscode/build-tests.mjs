// Bundles the extension-host suite (test/vscode/*.ts) for VS Code: one CommonJS file per test
// file plus index.js (the extensionTestsPath), `vscode` and `mocha` left to the host / node_modules.
// The output lives inside the extension folder, so the tests get the same `vscode` API instance
// as the extension (stubs of vscode.window reach it).
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = path.join(root, '.e2e', 'out', 'test', 'vscode');
fs.rmSync(outdir, { recursive: true, force: true });
const src = path.join(root, 'test', 'vscode');
const entryPoints = fs.readdirSync(src).filter((f) => f === 'index.ts' || f.endsWith('.test.ts')).map((f) => path.join(src, f));
await esbuild.build({
  entryPoints, outdir, bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: 'inline',
  external: ['vscode', 'mocha', '@tensorflow/*'], mainFields: ['module', 'main'], logLevel: 'warning',
});
console.log(`extension-host suite built into ${path.relative(root, outdir)}`);
