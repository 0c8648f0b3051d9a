/**
 * int8 models in every view: `inspect` on an int8 model.json gives its stored size and format (not
 * its float32 size once loaded), an int8 teacher is reported at its int8 size (inspect, report.json,
 * the CLI table, the compression panel), and `distill export --int8` (or `--job int8`) exports the int8 student with its
 * FORMAT.md, byte for byte.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment } from '../../src/engine/run';
import { inspectTarget } from '../../src/engine/inspect';
import { summaryTable } from '../../src/cli/main';
import { compressionData } from '../../src/host/panels/panelData';
import type { Report } from '../../src/runs/report';
import { REPO, syntheticExperiment, tempDir, writeExperiment } from '../helpers/experiments';

const CLI = path.join(REPO, 'dist', 'cli.js');
let runDir = '';

before(async () => {
  cp.execFileSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({ baseline: false, training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } }));
  const r = await runExperiment({ experiment: file, backend: 'wasm' });
  assert.equal(r.status, 'completed', r.error);
  runDir = r.runDir;
});

/** Stored bytes of an int8 folder computed from its files: weights.bin plus 4 + 1 bytes per channel scale / zero point. */
function storedBytes(dir: string): number {
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: { weights: { quantization?: { scale: number[] } }[] }[] };
  const channels = mj.weightsManifest[0].weights.reduce((a, w) => a + (w.quantization?.scale.length ?? 0), 0);
  assert.ok(channels > 0);
  return fs.statSync(path.join(dir, 'weights.bin')).size + 5 * channels;
}

void test('inspect <int8 model.json>: its int8 size and format, not its float32 size', async () => {
  const int8Dir = path.join(runDir, 'student', 'int8');
  const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as Required<Report>;
  assert.equal(report.quantized.bytes, storedBytes(int8Dir));
  const text = await inspectTarget(path.join(int8Dir, 'model.json'), 'wasm');
  assert.ok(text.includes(`int8 weights (format "distill-int8-per-channel" v1`), text);
  assert.ok(text.includes(`): ${report.quantized.bytes.toLocaleString('en-US')} bytes — `), text);
  assert.ok(text.includes(`float32 weights (${report.quantized.floatBytes.toLocaleString('en-US')} bytes)`), text);
  assert.doesNotMatch(text, /bytes \(float32\)$/m);
});

void test('an int8 teacher is counted at its int8 size: inspect, report.json, the CLI table', async () => {
  const int8Dir = path.join(runDir, 'student', 'int8');
  const bytes = storedBytes(int8Dir);
  const dir = tempDir();
  const file = writeExperiment(dir, syntheticExperiment({
    teacher: { model: path.join(int8Dir, 'model.json') },
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [4], classes: 4 } },
    baseline: false, training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
  }));
  const text = await inspectTarget(file, 'wasm');
  assert.ok(text.includes(`teacher: int8 weights (format "distill-int8-per-channel" v1`), text);
  const total = text.split('\n').find((l) => l.startsWith('total'))!;
  assert.ok(total.includes(` ${bytes.toLocaleString('en-US')} `), total);
  assert.match(text, /smaller than the int8 teacher/);
  const r = await runExperiment({ experiment: file, backend: 'wasm' });
  assert.equal(r.status, 'completed', r.error);
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Required<Report>;
  assert.equal(report.teacher.bytes, bytes);
  assert.equal(report.teacher.format, 'distill-int8-per-channel');
  assert.equal(report.compression.bytes, bytes / report.student.bytes);
  assert.match(summaryTable(report), /^teacher \(int8\) /m);
  // The compression panel's teacher column.
  const teacherColumn = compressionData(r.runDir, 'x', []).columns[0];
  assert.equal(teacherColumn.name, 'teacher (int8)');
  assert.equal(teacherColumn.bytes, bytes);
});

void test('distill export --int8 / --job int8: the int8 student and its FORMAT.md, byte for byte; never overwrites', () => {
  const int8Dir = path.join(runDir, 'student', 'int8');
  for (const flags of [['--int8'], ['--job', 'int8']]) {
    const dest = path.join(tempDir(), 'out');
    // --int8 takes no value: it may stand before the folders.
    const r = cp.spawnSync(process.execPath, [CLI, 'export', ...(flags.length === 1 ? [...flags, runDir, dest] : [runDir, dest, ...flags])], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /exported int8 student/);
    assert.deepEqual(fs.readdirSync(dest).sort(), ['FORMAT.md', 'model.json', 'weights.bin']);
    for (const f of fs.readdirSync(dest)) assert.ok(fs.readFileSync(path.join(dest, f)).equals(fs.readFileSync(path.join(int8Dir, f))), f);
    const again = cp.spawnSync(process.execPath, [CLI, 'export', runDir, dest, ...flags], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists; remove it first/);
  }
});
