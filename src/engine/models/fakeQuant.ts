/**
 * Fake quantisation of a TF.js Layers model (issue 18, `student.quantize`; quantisation-aware
 * distillation after Polino et al. 2018): every layer with kernels (weights of rank ≥ 2) computes
 * with ŵ — each kernel quantised per channel at `bits` bits and dequantised by the export rule of
 * quantize.ts (the same function, so the exported copy computes exactly what training saw) — while
 * the gradient passes straight through to the float weights w (dŵ/dw taken as the identity).
 *
 * With `activations`, each such layer's output is also fake-quantised per tensor, 8-bit affine over
 * [min(0, lo), max(0, hi)], where lo/hi are an exponential moving average (momentum 0.9; the first
 * batch sets them) of the batch min/max, updated in training passes (`training: true`) only;
 * values outside that range get no gradient. The ranges are float32 values (every update rounded
 * to float32), so a checkpoint holds them exactly.
 *
 * It works by patching, on the model's layer objects, `call` (and, for the duration of one call,
 * the kernels' `read`): every forward pass through those layers — `apply`, `predict`, tapped
 * models sharing the layers — is fake-quantised, while saving and `getWeights` still see w.
 */
import * as tf from '@tensorflow/tfjs';
import { channelAxis, fakeQuantizeValues, isQuantized, roundHalfAway } from './quantize';

/** One layer output's range (raw EMA values; the quantiser widens it to include 0). */
export interface ActivationRange {
  min: number;
  max: number;
}

export interface FakeQuantOptions {
  bits: 8 | 4;
  /** Fake-quantise the quantised layers' outputs too. */
  activations: boolean;
  /** Starting (or, for a loaded copy, fixed) activation ranges by layer name. */
  ranges?: Record<string, ActivationRange>;
  /** EMA momentum of the ranges (default 0.9). */
  momentum?: number;
  /** Never update the ranges (a loaded copy measured as exported). */
  frozen?: boolean;
  /** Fake-quantise the kernels (default true; false for a loaded copy, whose weights are ŵ already). */
  weights?: boolean;
}

type LayerVar = { read(): tf.Tensor; shape: (number | null)[]; originalName?: string; name: string };
type Callable = { call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] };

/** The layers of a model, nested models flattened. */
function allLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const walk = (ls: tf.layers.Layer[]): void => {
    for (const l of ls) {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(inner)) walk(inner);
      else out.push(l);
    }
  };
  walk(model.layers);
  return out;
}

/** Layers whose kernels (rank ≥ 2 weights) are quantised, with those kernels. */
export function quantizedLayers(model: tf.LayersModel): { layer: tf.layers.Layer; kernels: LayerVar[] }[] {
  return allLayers(model)
    .map((layer) => ({ layer, kernels: (layer.weights as unknown as LayerVar[]).filter((w) => isQuantized(w.shape as number[])) }))
    .filter((l) => l.kernels.length > 0);
}

/**
 * ŵ with a straight-through gradient: the value is the per-channel fake-quantised kernel, the
 * gradient with respect to w is the incoming one unchanged.
 */
export function fakeQuantWeight(w: tf.Tensor, name: string, bits: 8 | 4): tf.Tensor {
  const shape = w.shape;
  const axis = channelAxis(name, shape);
  const f = tf.customGrad(((x: tf.Tensor) => ({
    value: tf.tensor(fakeQuantizeValues(x.dataSync() as Float32Array, shape, axis, bits), shape, 'float32'),
    gradFunc: (dy: tf.Tensor) => dy,
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(w);
}

/** S, Z of the 8-bit per-tensor activation quantiser over [min(0, lo), max(0, hi)]. */
export function activationParams(range: ActivationRange): { scale: number; zeroPoint: number; lo: number; hi: number } {
  const lo = Math.fround(Math.min(0, range.min));
  const hi = Math.fround(Math.max(0, range.max));
  const s = Math.fround((hi - lo) / 255);
  const scale = s > 0 ? s : 1;
  const zeroPoint = Math.max(-128, Math.min(127, roundHalfAway(-128 - lo / scale)));
  return { scale, zeroPoint, lo, hi };
}

/**
 * x̂ = (clamp(round(x/S) + Z, −128, 127) − Z)·S (round half away from zero, float32 arithmetic);
 * the gradient passes where lo ≤ x ≤ hi and is 0 elsewhere.
 */
export function fakeQuantActivation(x: tf.Tensor, range: ActivationRange): tf.Tensor {
  const { scale, zeroPoint, lo, hi } = activationParams(range);
  const f = tf.customGrad(((v: tf.Tensor, save: tf.GradSaveFunc) => {
    save([v]);
    const value = tf.tidy(() => {
      const r = tf.div(v, tf.scalar(scale));
      const rounded = tf.mul(tf.sign(r), tf.floor(tf.add(tf.abs(r), tf.scalar(0.5))));
      const q = tf.clipByValue(tf.add(rounded, tf.scalar(zeroPoint)), -128, 127);
      return tf.mul(tf.sub(q, tf.scalar(zeroPoint)), tf.scalar(scale));
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const inside = tf.logicalAnd(tf.greaterEqual(saved[0], tf.scalar(lo)), tf.lessEqual(saved[0], tf.scalar(hi)));
        return tf.mul(dy, tf.cast(inside, 'float32'));
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/** A model's layers patched for fake quantisation; `restore()` undoes it. */
export class FakeQuantizer {
  readonly bits: 8 | 4;
  readonly activations: boolean;
  private readonly momentum: number;
  private readonly frozen: boolean;
  private readonly weights: boolean;
  /** EMA ranges by layer name (float32 values). */
  private readonly ranges = new Map<string, ActivationRange>();
  private readonly undo: (() => void)[] = [];
  /** Names of the patched layers, in model order. */
  readonly layerNames: string[];

  constructor(model: tf.LayersModel, opts: FakeQuantOptions) {
    this.bits = opts.bits;
    this.activations = opts.activations;
    this.momentum = opts.momentum ?? 0.9;
    this.frozen = opts.frozen ?? false;
    this.weights = opts.weights ?? true;
    const layers = quantizedLayers(model);
    this.layerNames = layers.map((l) => l.layer.name);
    for (const [name, r] of Object.entries(opts.ranges ?? {})) {
      if (!this.layerNames.includes(name)) {
        throw new Error(`activation range for layer "${name}": the model has no quantised layer of that name (its quantised layers: ${this.layerNames.join(', ')})`);
      }
      this.ranges.set(name, { min: Math.fround(r.min), max: Math.fround(r.max) });
    }
    for (const { layer, kernels } of layers) this.patch(layer, kernels);
  }

  private patch(layer: tf.layers.Layer, kernels: LayerVar[]): void {
    const target = layer as unknown as Callable;
    const ownCall = Object.prototype.hasOwnProperty.call(target, 'call') ? target.call : undefined;
    const call = target.call.bind(target);
    target.call = (inputs, kwargs) => {
      for (const k of this.weights ? kernels : []) {
        const read = k.read.bind(k);
        k.read = () => fakeQuantWeight(read(), k.originalName ?? k.name, this.bits);
      }
      let out: tf.Tensor | tf.Tensor[];
      try {
        out = call(inputs, kwargs);
      } finally {
        if (this.weights) kernels.forEach((k) => { delete (k as Partial<LayerVar>).read; });
      }
      if (!this.activations || Array.isArray(out)) return out;
      return this.quantizeOutput(layer.name, out, kwargs?.training === true);
    };
    this.undo.push(() => {
      if (ownCall) target.call = ownCall;
      else delete (target as Partial<Callable>).call;
    });
  }

  private quantizeOutput(name: string, y: tf.Tensor, training: boolean): tf.Tensor {
    if (training && !this.frozen) {
      const [bmin, bmax] = tf.tidy(() => [tf.min(y), tf.max(y)]).map((t) => {
        const v = t.dataSync()[0];
        t.dispose();
        return v;
      });
      const r = this.ranges.get(name);
      const m = this.momentum;
      this.ranges.set(name, r
        ? { min: Math.fround(m * r.min + (1 - m) * bmin), max: Math.fround(m * r.max + (1 - m) * bmax) }
        : { min: Math.fround(bmin), max: Math.fround(bmax) });
    }
    const range = this.ranges.get(name);
    return range ? fakeQuantActivation(y, range) : y; // no range yet (no training pass): left float
  }

  /** The activation ranges so far, by layer name. */
  getRanges(): Record<string, ActivationRange> {
    return Object.fromEntries([...this.ranges].map(([k, v]) => [k, { ...v }]));
  }

  /** Replaces the ranges (a checkpoint's). */
  setRanges(ranges: Record<string, ActivationRange>): void {
    this.ranges.clear();
    for (const [k, v] of Object.entries(ranges)) this.ranges.set(k, { min: Math.fround(v.min), max: Math.fround(v.max) });
  }

  /** Undoes the patches: the model computes in float again. */
  restore(): void {
    for (const u of this.undo.splice(0)) u();
  }
}
