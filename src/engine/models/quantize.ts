/**
 * int8 (and, issue 18, int4) weight quantisation of a TF.js Layers model: per-channel affine,
 * activations float (or, for a quantisation-aware copy, fake-quantised with stored ranges).
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
 *
 * issue 18 (`student.quantize`, src/config/types.ts): the same rule at `bits` bits — qmin = −2^(bits−1),
 * qmax = 2^(bits−1) − 1, S_c = (max(0, max w) − min(0, min w)) / (2^bits − 1) (1 when that is 0),
 * Z_c = clamp(round(qmin − min(0, min w)/S_c)), q = clamp(round(w/S_c) + Z_c), rounding half away
 * from zero (the int8 format is the bits = 8 case). The int4 copy (`distill-int4-per-channel`) has
 * `quantization.dtype: "int4"`; its weights.bin holds each quantised weight as ceil(n/2) bytes, two
 * 4-bit two's-complement values per byte, low nibble first (an odd count leaves the last high
 * nibble 0), weights in manifest order as above. A quantisation-aware copy may also carry
 * `distillQuantization.activations`: layer name → {min, max}, the 8-bit per-tensor ranges its
 * layers' outputs are fake-quantised with (src/engine/models/fakeQuant.ts) when it is loaded.
 */
import type * as tf from '@tensorflow/tfjs';

export const INT8_FORMAT = 'distill-int8-per-channel';
export const INT4_FORMAT = 'distill-int4-per-channel';

/** The copy format of `bits`-bit kernels. */
export function quantFormat(bits: 8 | 4): string {
  return bits === 4 ? INT4_FORMAT : INT8_FORMAT;
}

/** Rounding half away from zero (the contract's rule; Math.round rounds halves up). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** qmin, qmax of `bits`-bit two's complement. */
export function qRange(bits: number): [number, number] {
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

export interface Int8Quantization {
  dtype: 'int8' | 'int4';
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

/** Quantises one tensor per channel at `bits` bits (8 or 4; q and Z within [qmin, qmax]). */
export function quantizeValues(values: Float32Array, shape: number[], axis: number, bits: 8 | 4 = 8): { q: Int8Array; scale: Float32Array; zeroPoint: Int8Array } {
  const [qmin, qmax] = qRange(bits);
  const levels = 2 ** bits - 1;
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
    const s = Math.fround((hi[k] - lo[k]) / levels);
    scale[k] = s > 0 ? s : 1;
    zeroPoint[k] = Math.max(qmin, Math.min(qmax, roundHalfAway(qmin - lo[k] / scale[k])));
  }
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = ch(i);
    q[i] = Math.max(qmin, Math.min(qmax, roundHalfAway(values[i] / scale[k]) + zeroPoint[k]));
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

/** 4-bit values (each in [−8, 7]) → ceil(n/2) bytes, two's complement, low nibble first. */
export function packInt4(q: Int8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(q.length / 2));
  for (let i = 0; i < q.length; i++) {
    if (q[i] < -8 || q[i] > 7) throw new Error(`packInt4: value ${q[i]} at ${i} is outside [-8, 7]`);
    out[i >> 1] |= (q[i] & 0xf) << ((i & 1) * 4);
  }
  return out;
}

/** The inverse of packInt4: `n` values from ceil(n/2) bytes. */
export function unpackInt4(bytes: Uint8Array, n: number): Int8Array {
  if (bytes.length < Math.ceil(n / 2)) throw new Error(`unpackInt4: ${bytes.length} bytes hold fewer than ${n} values`);
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const nib = (bytes[i >> 1] >> ((i & 1) * 4)) & 0xf;
    out[i] = nib >= 8 ? nib - 16 : nib;
  }
  return out;
}

/** Stored bytes of `n` quantised values at `bits` bits. */
export const packedBytes = (n: number, bits: number): number => (bits === 4 ? Math.ceil(n / 2) : n);

/** Per-channel affine fake quantisation (quantise, then dequantise) of one kernel: ŵ as float32. */
export function fakeQuantizeValues(values: Float32Array, shape: number[], axis: number, bits: 8 | 4): Float32Array {
  const { q, scale, zeroPoint } = quantizeValues(values, shape, axis, bits);
  return dequantizeValues(q, shape, { axis, scale: Array.from(scale), zeroPoint: Array.from(zeroPoint) });
}

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

/** Float32 weights (as saved by TF.js) → the int8 (int4: `bits` 4) manifest entries and weights.bin. */
export function quantizeArtifacts(specs: (tf.io.WeightsManifestEntry | Entry)[], data: ArrayBuffer, bits: 8 | 4 = 8): QuantizedArtifacts {
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
      const { q, scale, zeroPoint } = quantizeValues(values, spec.shape, axis, bits);
      parts.push(bits === 4 ? packInt4(q) : new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
      out.push({
        name: spec.name, shape: spec.shape, dtype: 'float32',
        quantization: { dtype: bits === 4 ? 'int4' : 'int8', scheme: 'per-channel-affine', axis, scale: Array.from(scale), zeroPoint: Array.from(zeroPoint) },
      });
      bytes += packedBytes(n, bits) + 5 * scale.length;
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

/** True when a manifest holds int8 (or int4) weights of this format. */
export function hasInt8Weights(specs: (tf.io.WeightsManifestEntry | Entry)[]): boolean {
  return specs.some((s) => quantOf(s)?.dtype === 'int8' || quantOf(s)?.dtype === 'int4');
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
    if (quant?.dtype === 'int8' || quant?.dtype === 'int4') {
      if (quant.scale.length !== s.shape[quant.axis] || quant.zeroPoint.length !== s.shape[quant.axis]) {
        throw new Error(`weight "${s.name}": ${quant.scale.length} scales and ${quant.zeroPoint.length} zero points for ${s.shape[quant.axis]} channels`);
      }
      const stored = packedBytes(size, quant.dtype === 'int4' ? 4 : 8);
      const q = quant.dtype === 'int4' ? unpackInt4(new Uint8Array(data.slice(offset, offset + stored)), size) : new Int8Array(data.slice(offset, offset + size));
      out.set(dequantizeValues(q, s.shape, quant), at);
      offset += stored;
    } else if (quant) {
      throw new Error(`weight "${s.name}": quantization dtype ${String((quant as { dtype?: string }).dtype)} is not the int8 or int4 format`);
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
export function int8Bytes(model: tf.LayersModel, bits: 8 | 4 = 8): number {
  let bytes = 0;
  for (const w of model.weights) {
    const shape = w.shape as number[];
    const n = count(shape);
    bytes += isQuantized(shape) ? packedBytes(n, bits) + 5 * shape[channelAxis(w.originalName ?? w.name, shape)] : 4 * n;
  }
  return bytes;
}
