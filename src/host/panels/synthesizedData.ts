/**
 * What the Synthesized Inputs panel shows (issue 18), read from a data-free run's `synthesized/`
 * folder (src/runs/synthesized.ts): the batches written so far with their BN-statistics loss at the
 * first and last iteration and the teacher's accuracy on them, and one batch's inputs as a grid per
 * class (a few per class, 8-bit pixels: greyscale for one channel, RGB for three). Pure Node (no
 * `vscode`): tested in test/unit/synthesizedData.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SynthBatchView, SynthGridView, SynthesizedData } from '../../protocol/webviews';
import type { SynthesizedBatch, SynthesizedMeta } from '../../runs/synthesized';
import { batchName, listSynthesizedBatches, readSynthesizedInputs, readSynthesizedMeta, SYNTHESIZED_DIR } from '../../runs/synthesized';

/** Inputs shown per class. */
export const PER_CLASS = 6;

/** Whether a run folder has synthesised inputs (its meta.json: written before the first batch). */
export function hasSynthesized(runDir: string): boolean {
  return fs.existsSync(path.join(runDir, SYNTHESIZED_DIR, 'meta.json'));
}

/** Whether batch `index` (1-based) has been written (its .json exists: the .bin came first). */
export function batchWritten(runDir: string, index: number): boolean {
  return fs.existsSync(path.join(runDir, SYNTHESIZED_DIR, `${batchName(index)}.json`));
}

export function batchView(index: number, b: SynthesizedBatch): SynthBatchView {
  return { index, count: b.count, bnLoss: { start: b.bnLoss.start, end: b.bnLoss.end }, classLoss: b.classLoss, teacherAcc: b.teacherAcc, seconds: b.seconds, curve: b.curve ?? [] };
}

/** Means over the batches written: BN loss (per batch), teacher accuracy (per sample). */
export function batchSummary(batches: SynthBatchView[]): SynthesizedData['summary'] {
  if (batches.length === 0) return undefined;
  const samples = batches.reduce((a, b) => a + b.count, 0);
  const mean = (f: (b: SynthBatchView) => number) => batches.reduce((a, b) => a + f(b), 0) / batches.length;
  return {
    bnStart: mean((b) => b.bnLoss.start), bnEnd: mean((b) => b.bnLoss.end), samples,
    teacherAcc: samples > 0 ? batches.reduce((a, b) => a + b.teacherAcc * b.count, 0) / samples : 0,
  };
}

/** The picture geometry of one input of `shape` (channels last): [H, W, C], [H, W] or a vector [D] as a 1 × D strip. */
export function imageGeometry(shape: number[]): { h: number; w: number; channels: number } {
  if (shape.length === 3) return { h: shape[0], w: shape[1], channels: shape[2] };
  if (shape.length === 2) return { h: shape[0], w: shape[1], channels: 1 };
  return { h: 1, w: shape.reduce((a, b) => a * b, 1), channels: 1 };
}

/**
 * 8-bit pixels of input `n` of `values` ([count, ...shape]): three channels as RGB, one as grey,
 * any other count as the grey mean of its channels. `scale` `unit` maps [0, 1] to 0..255 (clamped);
 * `per-image` maps the input's own min..max to 0..255 (a constant input is mid-grey).
 */
export function inputPixels(values: Float32Array, n: number, shape: number[], scale: 'unit' | 'per-image'): { pixels: number[]; c: 1 | 3 } {
  const { h, w, channels } = imageGeometry(shape);
  const per = h * w * channels;
  const x = values.subarray(n * per, (n + 1) * per);
  let lo = 0;
  let hi = 1;
  if (scale === 'per-image') {
    lo = Infinity;
    hi = -Infinity;
    for (const v of x) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const span = hi - lo;
  const byte = (v: number) => (span > 0 ? Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255))) : 128);
  const c = channels === 3 ? 3 : 1;
  const pixels = new Array<number>(h * w * c);
  for (let p = 0; p < h * w; p++) {
    if (c === 3) {
      for (let k = 0; k < 3; k++) pixels[p * 3 + k] = byte(x[p * 3 + k]);
    } else {
      let s = 0;
      for (let k = 0; k < channels; k++) s += x[p * channels + k];
      pixels[p] = byte(s / channels);
    }
  }
  return { pixels, c };
}

/** `unit` when every value of the batch lies in [0, 1] (e.g. `normalize: "scale"`, clamped), else `per-image`. */
export function batchScale(values: Float32Array): 'unit' | 'per-image' {
  for (const v of values) if (!(v >= 0 && v <= 1)) return 'per-image';
  return 'unit';
}

/** Batch `index`'s grid: for each class, its first `perClass` inputs in batch order. */
export function batchGrid(runDir: string, meta: SynthesizedMeta, index: number, info: SynthesizedBatch, classNames?: string[], perClass = PER_CLASS): SynthGridView {
  const values = readSynthesizedInputs(runDir, index, meta);
  const per = meta.shape.reduce((a, b) => a * b, 1);
  const count = values.length / per;
  if (count !== info.count || info.labels.length !== count) {
    throw new Error(`${path.join(SYNTHESIZED_DIR, `${batchName(index)}`)}: ${count} inputs in the .bin, ${info.count} (count) and ${info.labels.length} labels in the .json`);
  }
  const scale = batchScale(values);
  const { h, w, channels } = imageGeometry(meta.shape);
  const names = classNames && classNames.length === meta.classes ? classNames : undefined;
  const classes: SynthGridView['classes'] = [];
  for (let k = 0; k < meta.classes; k++) classes.push({ label: k, name: names ? names[k] : String(k), count: 0, images: [] });
  info.labels.forEach((label, n) => {
    const cls = classes[label];
    if (!cls) throw new Error(`${path.join(SYNTHESIZED_DIR, `${batchName(index)}.json`)}: labels[${n}] is ${label}, expected a class in 0..${meta.classes - 1}`);
    cls.count++;
    if (cls.images.length < perClass) cls.images.push({ index: n, pixels: inputPixels(values, n, meta.shape, scale).pixels });
  });
  return { batch: index, h, w, c: channels === 3 ? 3 : 1, scale, classes };
}

/** Everything but the title: the meta, the batches written, their summary, and the grid of `pick` (0 or absent: the newest). */
export function synthesizedData(runDir: string, state: string, pick?: number, classNames?: string[]): Omit<SynthesizedData, 'title'> {
  let meta: SynthesizedMeta | undefined;
  try {
    meta = readSynthesizedMeta(runDir);
  } catch (e) {
    return { state, batches: [], error: `${path.join(SYNTHESIZED_DIR, 'meta.json')}: ${(e as Error).message}` };
  }
  if (!meta) {
    return { state, batches: [], note: 'no synthesised inputs in this run (yet): a data-free run ("data": { "train": { "format": "teacher-synthesized", … } }) writes them in its first job.' };
  }
  const out: Omit<SynthesizedData, 'title'> = { state, meta: { shape: meta.shape, classes: meta.classes, samples: meta.samples, batchSize: meta.batchSize, batches: meta.batches }, batches: [] };
  let listed: ReturnType<typeof listSynthesizedBatches>;
  try {
    listed = listSynthesizedBatches(runDir);
  } catch (e) {
    return { ...out, error: `${SYNTHESIZED_DIR}/: ${(e as Error).message}` };
  }
  out.batches = listed.map((b) => batchView(b.index, b.info));
  const summary = batchSummary(out.batches);
  if (summary) out.summary = summary;
  if (listed.length === 0) {
    out.note = 'the synthesis has not written a batch yet';
    return out;
  }
  const chosen = (pick && listed.find((b) => b.index === pick)) || listed[listed.length - 1];
  try {
    out.grid = batchGrid(runDir, meta, chosen.index, chosen.info, classNames);
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}
