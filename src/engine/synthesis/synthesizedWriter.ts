/**
 * Writes the synthesised inputs of a data-free run in the format of src/runs/synthesized.ts:
 * `meta.json` once before the first batch, then per batch its `.bin` and then its `.json`, each
 * written to a temporary name (`*.tmp-<pid>`, swept by removeTempFiles on resume) and renamed into
 * place — a batch exists exactly when its `.json` does, and nothing is rewritten.
 */
import * as fs from 'fs';
import * as path from 'path';
import { guardWrite } from '../../runs/diskFaults';
import type { SynthesizedBatch, SynthesizedMeta } from '../../runs/synthesized';
import { batchName, readSynthesizedMeta, SYNTHESIZED_DIR } from '../../runs/synthesized';

function writeAtomic(file: string, data: Buffer | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  guardWrite(file, Buffer.byteLength(data), () => {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  });
}

/**
 * Writes `meta.json` when there is none; when there is one, it must describe the same synthesis
 * (a run folder resumed with other settings is refused rather than mixed).
 */
export function ensureSynthesizedMeta(runDir: string, meta: SynthesizedMeta): void {
  const dir = path.join(runDir, SYNTHESIZED_DIR);
  fs.mkdirSync(dir, { recursive: true });
  const old = readSynthesizedMeta(runDir);
  if (!old) {
    writeAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
    return;
  }
  for (const k of ['shape', 'classes', 'samples', 'batchSize', 'batches'] as const) {
    if (JSON.stringify(old[k]) !== JSON.stringify(meta[k])) {
      throw new Error(`${path.join(dir, 'meta.json')}: ${k} is ${JSON.stringify(old[k])}, but this run's synthesis has ${JSON.stringify(meta[k])}`);
    }
  }
}

/** Whether batch `index` (1-based) is complete (its `.json` exists). */
export function batchWritten(runDir: string, index: number): boolean {
  return fs.existsSync(path.join(runDir, SYNTHESIZED_DIR, `${batchName(index)}.json`));
}

/** Writes one batch: the inputs (float32 little-endian), then its figures. Never over a written batch. */
export function writeSynthesizedBatch(runDir: string, index: number, x: Float32Array, info: SynthesizedBatch): void {
  if (batchWritten(runDir, index)) throw new Error(`${SYNTHESIZED_DIR}/${batchName(index)} is already written; batches are never rewritten`);
  const base = path.join(runDir, SYNTHESIZED_DIR, batchName(index));
  const bytes = Buffer.alloc(x.length * 4);
  for (let i = 0; i < x.length; i++) bytes.writeFloatLE(x[i], i * 4);
  writeAtomic(`${base}.bin`, bytes);
  writeAtomic(`${base}.json`, JSON.stringify(info));
}
