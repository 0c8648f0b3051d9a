/**
 * int8 weight quantisation of a TF.js Layers model: per-channel affine, activations stay float.
 *
 * TF.js's own weight quantisation (`quantization: { dtype: 'uint8' | 'uint16' | 'float16', scale,
 * min }` in the weights manifest) has one scale per tensor, not per channel, so the int8 copy uses
 * this format of its own, in a model.json that is otherwise a standard TF.js Layers model.json:
 *
 *   model.json
 *     format, generatedBy, convertedBy, modelTopology   as in any TF.js Layers model.json
 *     distillQuantization: { format: "distill-int8-per-channel", version: 1, … }   marks the format
 *     weightsManifest[0].weights[i]:
 *       float weights (biases, normalisation parameters — every weight of rank < 2):
 *         { name, shape, dtype: "float32" }                         → 4 bytes per value
 *       quantised weights (kernels: rank ≥ 2):
 *         { name, shape, dtype: "float32",
 *           quantization: { dtype: "int8", scheme: "per-channel-affine", axis,
 *                           scale: [S_0 … S_{C-1}], zeroPoint: [Z_0 … Z_{C-1}] } }   → 1 byte per value
 *   weights.bin   the values of every weight in manifest order, row-major: float32 little-endian,
 *                 or int8 (two's complement) for quantised weights.
 *
 * A quantised value q of channel c (its index along `axis`: the last axis — a Dense kernel's
 * output units, a Conv kernel's filters — or axis 2 for a depthwise kernel's input channels)
 * stands for (q − Z_c) · S_c. Per channel, S_c = (max(0, max w) − min(0, min w)) / 255 and
 * Z_c = round(−128 − min(0, min w) / S_c), so 0 is exact and every value is within one step S_c of
 * the original. Scales are float32 values written as JSON numbers.
 *
 * Stock TF.js refuses this model.json (unknown quantization dtype "int8") rather than misreading it;
 * `loadLayersModelFromFile` (fileIO.ts) recognises it and dequantises to float32 on load.
 */
import type * as tf from '@tensorflow/tfjs';

export const INT8_FORMAT = 'distill-int8-per-channel';

export interface Int8Quantization {
  dtype: 'int8';
  scheme: 'per-channel-affine';
  axis: number;
  scale: number[];
  zeroPoint: number[];
}

/** A manifest entry whose `quantization` may be ours (int8) or TF.js's own. */
type Entry = Omit<tf.io.WeightsManifestEntry, 'quantization'> & { quantization?: unknown };

const quantOf = (s: tf.io.WeightsManifestEntry | Entry): { dtype?: string } | undefined => (s as Entry).quantization as { dtype?: string } | undefined;

/** The channel axis of a weight: axis 2 for depthwise kernels, else the last axis. */
export function channelAxis(name: string, shape: number[]): number {
  return /depthwise_kernel/.test(name) && shape.length === 4 ? 2 : shape.length - 1;
}

/** Whether a weight is quantised: kernels (rank ≥ 2); biases and normalisation parameters stay float. */
export function isQuantized(shape: number[]): boolean {
  return shape.length >= 2;
}

/** Channel index of each element of a row-major tensor, along `axis`. */
function channelOf(shape: number[], axis: number): (i: number) => number {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const c = shape[axis];
  return (i) => Math.floor(i / inner) % c;
}

/** Quantises one tensor per channel. */
export function quantizeValues(values: Float32Array, shape: number[], axis: number): { q: Int8Array; scale: Float32Array; zeroPoint: Int8Array } {
  const c = shape[axis];
  const ch = channelOf(shape, axis);
  const lo = new Float64Array(c);
  const hi = new Float64Array(c);
  for (let i = 0; i < values.length; i++) {
    const k = ch(i);
    if (values[i] < lo[k]) lo[k] = values[i];
    if (values[i] > hi[k]) hi[k] = values[i];
  }
  const scale = new Float32Array(c);
  const zeroPoint = new Int8Array(c);
  for (let k = 0; k < c; k++) {
    const s = Math.fround((hi[k] - lo[k]) / 255);
    scale[k] = s > 0 ? s : 1;
    zeroPoint[k] = Math.max(-128, Math.min(127, Math.round(-128 - lo[k] / scale[k])));
  }
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = ch(i);
    q[i] = Math.max(-128, Math.min(127, Math.round(values[i] / scale[k]) + zeroPoint[k]));
  }
  return { q, scale, zeroPoint };
}

/** (q − Z_c) · S_c for every element. */
export function dequantizeValues(q: Int8Array, shape: number[], quant: Pick<Int8Quantization, 'axis' | 'scale' | 'zeroPoint'>): Float32Array {
  const ch = channelOf(shape, quant.axis);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) {
    const k = ch(i);
    out[i] = (q[i] - quant.zeroPoint[k]) * quant.scale[k];
  }
  return out;
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export interface QuantizedArtifacts {
  /** Manifest entries (ours: `quantization.dtype` is "int8", which TF.js's type does not include). */
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
  /** Bytes of the int8 model's weights: weights.bin plus the per-channel scales (float32) and zero points (int8). */
  bytes: number;
  /** Bytes of the same weights in float32. */
  floatBytes: number;
  quantizedWeights: number;
  floatWeights: number;
}

/** Float32 weights (as saved by TF.js) → the int8 manifest entries and weights.bin. */
export function quantizeArtifacts(specs: (tf.io.WeightsManifestEntry | Entry)[], data: ArrayBuffer): QuantizedArtifacts {
  const parts: Uint8Array[] = [];
  const out: Entry[] = [];
  let offset = 0;
  let bytes = 0;
  let floatBytes = 0;
  let quantizedWeights = 0;
  for (const spec of specs) {
    if (spec.dtype !== 'float32' || quantOf(spec)) {
      throw new Error(`weight "${spec.name}": expected float32 weights to quantise, found ${spec.dtype}${quantOf(spec) ? ' (already quantised)' : ''}`);
    }
    const n = count(spec.shape);
    const values = new Float32Array(data.slice(offset, offset + 4 * n));
    offset += 4 * n;
    floatBytes += 4 * n;
    if (isQuantized(spec.shape)) {
      const axis = channelAxis(spec.name, spec.shape);
      const { q, scale, zeroPoint } = quantizeValues(values, spec.shape, axis);
      parts.push(new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
      out.push({
        name: spec.name, shape: spec.shape, dtype: 'float32',
        quantization: { dtype: 'int8', scheme: 'per-channel-affine', axis, scale: Array.from(scale), zeroPoint: Array.from(zeroPoint) },
      });
      bytes += n + 5 * scale.length;
      quantizedWeights++;
    } else {
      parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      out.push({ name: spec.name, shape: spec.shape, dtype: 'float32' });
      bytes += 4 * n;
    }
  }
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const buf = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    buf.set(p, at);
    at += p.byteLength;
  }
  return { weightSpecs: out as tf.io.WeightsManifestEntry[], weightData: buf.buffer, bytes, floatBytes, quantizedWeights, floatWeights: specs.length - quantizedWeights };
}

/** True when a manifest holds int8 weights of this format. */
export function hasInt8Weights(specs: (tf.io.WeightsManifestEntry | Entry)[]): boolean {
  return specs.some((s) => quantOf(s)?.dtype === 'int8');
}

/** The int8 manifest entries and weights.bin → float32 entries and data, as TF.js loads them. */
export function dequantizeArtifacts(specs: (tf.io.WeightsManifestEntry | Entry)[], data: ArrayBuffer): { weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  const n = specs.reduce((a, s) => a + count(s.shape), 0);
  const out = new Float32Array(n);
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  let at = 0;
  for (const s of specs) {
    const size = count(s.shape);
    const quant = quantOf(s) as Int8Quantization | undefined;
    if (quant?.dtype === 'int8') {
      if (quant.scale.length !== s.shape[quant.axis] || quant.zeroPoint.length !== s.shape[quant.axis]) {
        throw new Error(`weight "${s.name}": ${quant.scale.length} scales and ${quant.zeroPoint.length} zero points for ${s.shape[quant.axis]} channels`);
      }
      out.set(dequantizeValues(new Int8Array(data.slice(offset, offset + size)), s.shape, quant), at);
      offset += size;
    } else if (quant) {
      throw new Error(`weight "${s.name}": quantization dtype ${String((quant as { dtype?: string }).dtype)} is not the int8 format`);
    } else {
      out.set(new Float32Array(data.slice(offset, offset + 4 * size)), at);
      offset += 4 * size;
    }
    at += size;
    outSpecs.push({ name: s.name, shape: s.shape, dtype: 'float32' });
  }
  return { weightSpecs: outSpecs, weightData: out.buffer };
}

/** Weight bytes of a model quantised this way (estimate from shapes, without its weights). */
export function int8Bytes(model: tf.LayersModel): number {
  let bytes = 0;
  for (const w of model.weights) {
    const shape = w.shape as number[];
    const n = count(shape);
    bytes += isQuantized(shape) ? n + 5 * shape[channelAxis(w.originalName ?? w.name, shape)] : 4 * n;
  }
  return bytes;
}
