/**
 * A data-free run folder as the engines write it (src/runs/synthesized.ts): run.json with a
 * `synthesize` job, synthesized/meta.json, and batches (.bin float32 little-endian first, then its
 * .json), for the Synthesized Inputs tests (unit, webview, extension host). The values are a
 * formula of (batch, input, position) the tests recompute by hand.
 */
import * as fs from 'fs';
import * as path from 'path';
import { batchName, SYNTHESIZED_DIR } from '../../src/runs/synthesized';
import type { SynthesizedBatch, SynthesizedMeta } from '../../src/runs/synthesized';
import type { RunJson } from '../../src/runs/store';

export interface SynthFixture {
  shape: number[];
  classes: number;
  batchSize: number;
  /** Batches planned (meta.batches). */
  batches: number;
  /** Value of input `n` of batch `b` (1-based) at flat position `i` (channels last). */
  value(b: number, n: number, i: number): number;
  classNames?: string[];
  status?: RunJson['status'];
}

/** Input `n` of batch `b`: (n·per + i)/100 − 0.5 + b/1000 — outside [0, 1], so the panel stretches each input. */
export const rampValue = (per: number) => (b: number, n: number, i: number): number => (n * per + i) / 100 - 0.5 + b / 1000;

/** The figures of batch `b`: BN loss 10/b → 1/b, teacher accuracy 1 − 1/(b+1), labels n mod classes. */
export function batchInfo(f: SynthFixture, b: number): SynthesizedBatch {
  return {
    count: f.batchSize, labels: Array.from({ length: f.batchSize }, (_, n) => n % f.classes),
    bnLoss: { start: 10 / b, end: 1 / b }, classLoss: 0.5 / b, teacherAcc: 1 - 1 / (b + 1), seconds: 2 + b,
    curve: [[0, 10 / b], [10, 4 / b], [19, 1 / b]],
  };
}

export function writeSynthRun(runDir: string, f: SynthFixture, written: number): void {
  fs.mkdirSync(path.join(runDir, SYNTHESIZED_DIR), { recursive: true });
  const now = new Date().toISOString();
  const run: RunJson = {
    id: path.basename(runDir), experiment: 'datafree', experimentFile: path.join(path.dirname(runDir), 'datafree.distill.json'), status: f.status ?? 'completed',
    versions: {}, createdAt: now, updatedAt: now, resumes: [],
    jobs: { synthesize: { kind: 'synthesize', seed: 0, status: written >= f.batches ? 'completed' : 'running', epochs: f.batches, completedEpochs: written } },
    ...(f.classNames ? { classNames: f.classNames } : {}),
  };
  fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(run, null, 2));
  fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), '');
  const meta: SynthesizedMeta = { version: 1, shape: f.shape, classes: f.classes, samples: f.batchSize * f.batches, batchSize: f.batchSize, batches: f.batches };
  fs.writeFileSync(path.join(runDir, SYNTHESIZED_DIR, 'meta.json'), JSON.stringify(meta));
  for (let b = 1; b <= written; b++) writeBatch(runDir, f, b);
}

/** Writes batch `b` the way the engines do: the .bin, then the .json (each renamed into place). */
export function writeBatch(runDir: string, f: SynthFixture, b: number): void {
  const per = f.shape.reduce((a, c) => a * c, 1);
  const values = new Float32Array(f.batchSize * per);
  for (let n = 0; n < f.batchSize; n++) for (let i = 0; i < per; i++) values[n * per + i] = f.value(b, n, i);
  const dir = path.join(runDir, SYNTHESIZED_DIR);
  const put = (name: string, data: Buffer | string) => {
    fs.writeFileSync(path.join(dir, `${name}.tmp`), data);
    fs.renameSync(path.join(dir, `${name}.tmp`), path.join(dir, name));
  };
  put(`${batchName(b)}.bin`, Buffer.from(values.buffer));
  put(`${batchName(b)}.json`, JSON.stringify(batchInfo(f, b)));
}
