/**
 * Shared plumbing for the project's wasm kernels.
 *
 * Our kernels are compositions of the wasm backend's own kernels (Transpose, PadV2, Slice, Conv2D,
 * DepthwiseConv2dNative, Sum, ...). They work on `TensorInfo`s, never on `tf.Tensor`s: calling a
 * kernelFunc directly keeps the engine out of the loop (no tensor tracking, no gradient tape), and
 * every intermediate buffer is released with `backend.disposeData` before returning. Inputs of the
 * kernel belong to the caller and are never disposed here.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataId, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { fastTranspose } from './simd';

export const WASM = 'wasm';

/** The part of the wasm backend (BackendWasm) our kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: DataId, force?: boolean): boolean;
  incRef(dataId: DataId): void;
}

/**
 * The stock (tfjs) kernel configs, saved the first time we look at them, before anything of ours
 * replaces them. Our kernels always call the stock versions of their building blocks, so replacing
 * e.g. BatchMatMul never makes another of our kernels recurse into it.
 */
const stock = new Map<string, KernelConfig>();

/** The stock wasm kernel config for `name` (saved on first call), or undefined if tfjs has none. */
export function stockKernel(name: string): KernelConfig | undefined {
  if (!stock.has(name)) {
    const cfg = tf.getKernel(name, WASM);
    if (!cfg || isOurs(cfg)) return undefined;
    stock.set(name, cfg);
  }
  return stock.get(name);
}

const OURS = Symbol.for('distill-studio.kernel');

/** Marks a kernel config as the project's (so it is never mistaken for the stock one). */
export function markOurs(cfg: KernelConfig): KernelConfig {
  (cfg as unknown as Record<symbol, boolean>)[OURS] = true;
  return cfg;
}

export function isOurs(cfg: KernelConfig | undefined): boolean {
  return Boolean(cfg) && (cfg as unknown as Record<symbol, boolean>)[OURS] === true;
}

/** Runs the stock wasm kernel `name` on the caller's arguments (the cases our kernel leaves to it). */
export function runStock(name: string, args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const stock = stockKernel(name);
  if (!stock) throw new Error(`stock wasm ${name} kernel is missing`);
  return (stock.kernelFunc as KernelFunc)(args as Parameters<KernelFunc>[0]) as TensorInfo;
}

/**
 * The config of our kernel `fn` replacing the stock kernel `name` (marked as ours; the stock
 * setup, which the fallback to the stock kernel needs, is kept).
 */
export function replacingConfig(name: string, fn: (args: never) => TensorInfo | TensorInfo[]): KernelConfig {
  return markOurs({ kernelName: name, backendName: WASM, kernelFunc: fn as unknown as KernelFunc, setupFunc: stockKernel(name)?.setupFunc });
}

/**
 * A kernel invocation context: calls stock kernels and remembers which results it owns, so that
 * `finish(out)` (or `dispose()` on error) releases every intermediate except the result.
 */
export class KernelScope {
  private owned: TensorInfo[] = [];

  constructor(readonly backend: WasmBackendLike) {}

  /** Runs the stock wasm kernel `name`; the result is owned by this scope. */
  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const cfg = stockKernel(name);
    if (!cfg) throw new Error(`wasm kernel '${name}' is not available`);
    const out = (cfg.kernelFunc as KernelFunc)({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    this.owned.push(info);
    return info;
  }

  /**
   * The same buffer seen with another shape (row-major data is unchanged). Costs nothing; does not
   * take a reference, so it lives as long as `x`'s owner does.
   */
  view(x: TensorInfo, shape: number[]): TensorInfo {
    if (tf.util.sizeFromShape(shape) !== tf.util.sizeFromShape(x.shape)) {
      throw new Error(`internal: cannot view [${x.shape}] as [${shape}]`);
    }
    return { dataId: x.dataId, shape, dtype: x.dtype };
  }

  /** Transposes with the SIMD kernel where the permutation allows (see Transpose.ts), else the stock one. */
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    if (perm.every((p, i) => p === i)) return x;
    const fast = fastTranspose(this.backend, x, perm);
    if (fast) {
      this.owned.push(fast);
      return fast;
    }
    return this.run('Transpose', { x }, { perm });
  }

  /** Transposes the last two axes. */
  transposeLast2(x: TensorInfo): TensorInfo {
    const r = x.shape.length;
    const perm = x.shape.map((_, i) => i);
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return this.transpose(x, perm);
  }

  /**
   * Pads (positive amounts, with zeros) or crops (negative amounts) every axis:
   * `amounts[i] = [before, after]`.
   */
  padOrCrop(x: TensorInfo, amounts: Array<[number, number]>): TensorInfo {
    let cur = x;
    if (amounts.some(([b, a]) => b < 0 || a < 0)) {
      const begin = amounts.map(([b]) => Math.max(0, -b));
      const size = x.shape.map((d, i) => d - begin[i] - Math.max(0, -amounts[i][1]));
      if (size.some((s) => s <= 0)) throw new Error(`internal: crop of [${x.shape}] by ${JSON.stringify(amounts)} leaves nothing`);
      cur = this.run('Slice', { x: cur }, { begin, size });
    }
    if (amounts.some(([b, a]) => b > 0 || a > 0)) {
      const paddings = amounts.map(([b, a]) => [Math.max(0, b), Math.max(0, a)]);
      cur = this.run('PadV2', { x: cur }, { paddings, constantValue: 0 });
    }
    return cur;
  }

  /**
   * Inserts `s - 1` zeros between consecutive rows/columns of an NHWC tensor (the "transposed
   * stride"). Result: [B, OH*sh, OW*sw, C]; the last sh-1 rows / sw-1 columns are zeros too.
   */
  zeroInsert(x: TensorInfo, sh: number, sw: number): TensorInfo {
    if (sh === 1 && sw === 1) return x;
    const [b, h, w, c] = x.shape;
    const x6 = this.view(x, [b, h, 1, w, 1, c]);
    const padded = this.run('PadV2', { x: x6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    return this.view(padded, [b, h * sh, w * sw, c]);
  }

  /** Releases every intermediate except `keep`, whose buffer the caller (the engine) now owns. */
  finish(keep: TensorInfo): TensorInfo {
    // A result that merely views a caller's input needs its own reference, as the Reshape kernel does.
    if (!this.owned.some((t) => t.dataId === keep.dataId)) this.backend.incRef(keep.dataId);
    const seen = new Set<DataId>([keep.dataId]);
    for (const t of this.owned) {
      if (seen.has(t.dataId)) continue;
      seen.add(t.dataId);
      this.backend.disposeData(t.dataId);
    }
    this.owned = [];
    return keep;
  }

  /** Releases every intermediate (error path). */
  dispose(): void {
    const seen = new Set<DataId>();
    for (const t of this.owned) {
      if (seen.has(t.dataId)) continue;
      seen.add(t.dataId);
      this.backend.disposeData(t.dataId);
    }
    this.owned = [];
  }
}

/** Runs `body` in a fresh scope; intermediates are freed on success and on error. */
export function withScope(backend: unknown, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const s = new KernelScope(backend as WasmBackendLike);
  try {
    return s.finish(body(s));
  } catch (e) {
    s.dispose();
    throw e;
  }
}

/** A named kernel input, or a clear error if the caller did not pass it. */
export function input(kernel: string, inputs: NamedTensorInfoMap, name: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: missing input '${name}'`);
  return t;
}

/** Normalises a stride/dilation attribute to [h, w]. */
export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[1] ?? v[0]];
}

export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(
      `${kernel} on the wasm backend supports only NHWC (channelsLast) data, got dataFormat '${String(dataFormat)}'. ` +
        `Use channelsLast layers or the cpu backend.`,
    );
  }
}

export function assertFloat32(kernel: string, ...xs: TensorInfo[]): void {
  for (const x of xs) {
    if (x.dtype !== 'float32') throw new Error(`${kernel} on the wasm backend supports only float32, got ${x.dtype}`);
  }
}
