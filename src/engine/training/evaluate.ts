/**
 * Batched inference and evaluation: logits over a whole split, accuracy, errors, agreement with
 * the teacher and KL to it. Nothing here trains; every tensor is disposed.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data';
import { rowsOf, streamChunk } from '../data';
import { perClass } from '../results/perClass';
import type { PerClass } from '../../runs/report';

/** The per-sample input shape the model expects for data of `dataShape` (flattened when needed). */
export function modelInputShape(model: tf.LayersModel, dataShape: number[], who: string): number[] {
  const shape = model.inputs[0].shape.slice(1);
  const size = (s: (number | null)[]) => s.reduce<number>((a, b) => a * (b ?? 1), 1);
  if (shape.length === dataShape.length && shape.every((d, i) => d === null || d === dataShape[i])) return dataShape;
  if (shape.every((d) => d !== null) && size(shape) === size(dataShape)) return shape as number[];
  throw new Error(`${who}: the model's input has shape [${shape.map((d) => d ?? '?').join(', ')}] per sample, ` +
    `but the data's samples have shape [${dataShape.join(', ')}] (${size(dataShape)} values)`);
}

/** Width of the model's (single) output. */
export function outputWidth(model: tf.LayersModel): number {
  const shape = model.outputs[0].shape;
  return shape[shape.length - 1] as number;
}

/** Logits of `model` for every sample of `ds`, row-major [N, C]. */
export function predictLogits(model: tf.LayersModel, ds: Dataset, inputShape: number[], batchSize = 512): Float32Array {
  if (!ds.stream) return predictRows(model, ds.x, ds.size, inputShape, batchSize);
  // A split streamed from disk: read as many rows at a time as its memory bound allows.
  const step = streamChunk(ds, batchSize);
  const out = new Float32Array(ds.size * outputWidth(model));
  for (let start = 0; start < ds.size; start += step) {
    const m = Math.min(step, ds.size - start);
    out.set(predictRows(model, rowsOf(ds, start, m), m, inputShape, step), start * (out.length / ds.size));
  }
  return out;
}

/**
 * Logits of `model` for `n` samples laid out row-major in `x`, computed `batchSize` rows at a time.
 * The teacher thread calls this too, so a range it computes matches the main thread's rows.
 */
export function predictRows(model: tf.LayersModel, x: Float32Array, n: number, inputShape: number[], batchSize = 512): Float32Array {
  const c = outputWidth(model);
  const out = new Float32Array(n * c);
  const per = inputShape.reduce((a, b) => a * b, 1);
  for (let start = 0; start < n; start += batchSize) {
    const m = Math.min(batchSize, n - start);
    // The values are read outside tidy: tidy walks what its function returns, element by element.
    const logits = tf.tidy(() => model.predict(tf.tensor(x.subarray(start * per, (start + m) * per), [m, ...inputShape]), { batchSize: m }) as tf.Tensor);
    out.set(logits.dataSync() as Float32Array, start * c);
    logits.dispose();
  }
  return out;
}

export function argmaxRows(logits: Float32Array, c: number): Int32Array {
  const n = logits.length / c;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = logits[i * c];
    for (let j = 1; j < c; j++) {
      const v = logits[i * c + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

export interface Evaluation {
  acc: number;
  errors: number;
  /** Per-class accuracy and the confusion matrix (rows: true class). */
  perClass: PerClass;
  agreement?: number;
  klTeacher?: number;
}

/** Accuracy (and, given the teacher's logits of the same samples, agreement and KL(t ‖ s) at T=1). */
export function evaluateLogits(logits: Float32Array, labels: Int32Array, c: number, teacherLogits?: Float32Array): Evaluation {
  const pred = argmaxRows(logits, c);
  let correct = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) correct++;
  const ev: Evaluation = { acc: correct / pred.length, errors: pred.length - correct, perClass: perClass(pred, labels, c) };
  if (teacherLogits) {
    const tp = argmaxRows(teacherLogits, c);
    let agree = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === tp[i]) agree++;
    ev.agreement = agree / pred.length;
    ev.klTeacher = meanKl(teacherLogits, logits, c);
  }
  return ev;
}

/** Mean over rows of KL(softmax(t) ‖ softmax(s)), in float64. */
export function meanKl(t: Float32Array, s: Float32Array, c: number): number {
  const n = t.length / c;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const lt = logSoftmaxRow(t, i * c, c);
    const ls = logSoftmaxRow(s, i * c, c);
    for (let j = 0; j < c; j++) total += Math.exp(lt[j]) * (lt[j] - ls[j]);
  }
  return total / n;
}

function logSoftmaxRow(a: Float32Array, off: number, c: number): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < c; j++) m = Math.max(m, a[off + j]);
  let s = 0;
  for (let j = 0; j < c; j++) s += Math.exp(a[off + j] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(c);
  for (let j = 0; j < c; j++) out[j] = a[off + j] - lse;
  return out;
}

export function evaluateModel(model: tf.LayersModel, ds: Dataset, inputShape: number[], teacherLogits?: Float32Array): Evaluation & { logits: Float32Array } {
  const logits = predictLogits(model, ds, inputShape);
  return { ...evaluateLogits(logits, ds.y, outputWidth(model), teacherLogits), logits };
}
