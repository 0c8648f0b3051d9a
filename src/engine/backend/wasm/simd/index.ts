/**
 * The project's WebAssembly SIMD kernels (kernels.wat), instantiated on the wasm backend's own
 * memory: they read and write tensors in place, with no copy in or out of JavaScript.
 *
 * Available when the runtime has WebAssembly SIMD and the backend exposes its memory (tfjs-backend-wasm's
 * Emscripten module); otherwise `simdKernels` returns undefined and callers keep the stock path.
 */
import type { DataId, DataType, TensorInfo } from '@tensorflow/tfjs';
import { KERNELS_WASM_BASE64 } from './kernels.generated';

export interface SimdKernels {
  adam(g: number, m: number, v: number, w: number, om: number, ov: number, ow: number, n: number,
    b1: number, omb1: number, b2: number, omb2: number, c1: number, c2: number, eps: number, neglr: number): void;
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  convFilterGrad(x: number, dy: number, dW: number, batch: number, inH: number, inW: number, ci: number,
    outH: number, outW: number, co: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number,
    padTop: number, padLeft: number): void;
  maxPoolGrad(x: number, dy: number, dx: number, batch: number, inH: number, inW: number, ch: number,
    outH: number, outW: number, fh: number, fw: number, sh: number, sw: number, padTop: number, padLeft: number): void;
  addRows(x: number, v: number, out: number, rows: number, cols: number): void;
  sumRows(x: number, out: number, rows: number, cols: number): void;
  reluGrad(dy: number, x: number, dx: number, n: number): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
export interface WasmHeapBackend {
  wasm: { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory };
  dataIdMap: { get(id: DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
}

let module: WebAssembly.Module | null | undefined;
let enabled = true;

/** Turns the SIMD kernels on or off (registerWasmKernels' `speed` option; benchmarks compare both). */
export function setSimdKernelsEnabled(on: boolean): void {
  enabled = on;
}
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

function compiled(): WebAssembly.Module | null {
  if (module === undefined) {
    try {
      module = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    } catch {
      module = null; // no SIMD in this runtime
    }
  }
  return module;
}

/** The kernels bound to `backend`'s memory, or undefined where they cannot run. */
export function simdKernels(backend: unknown): SimdKernels | undefined {
  const b = backend as Partial<WasmHeapBackend> | undefined;
  const memory = b?.wasm?.asm?.memory ?? b?.wasm?.wasmMemory;
  const mod = enabled ? compiled() : null;
  if (!enabled || !memory || !mod || !b?.dataIdMap || typeof b.makeOutput !== 'function') return undefined;
  let k = instances.get(memory);
  if (!k) {
    k = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}

/** Byte offset of a tensor's buffer in the backend's memory. */
export function heapOffset(backend: WasmHeapBackend, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error('internal: tensor data not found in the wasm backend');
  return d.memoryOffset;
}

/**
 * `perm` with runs of axes that stay adjacent merged: returns the merged input shape and the
 * permutation of the merged axes (e.g. [B,H,W,C] with [0,3,1,2] → [B, H·W, C] with [0,2,1]).
 */
export function collapsePermutation(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  // Drop axes of size 1: they never move data.
  const keep = perm.filter((p) => shape[p] !== 1);
  const groups: number[][] = [];
  for (const p of keep) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === p) last.push(p);
    else groups.push([p]);
  }
  const order = [...groups].sort((a, b) => a[0] - b[0]);
  const merged = order.map((g) => g.reduce((a, p) => a * shape[p], 1));
  return { shape: merged, perm: groups.map((g) => order.indexOf(g)) };
}

/**
 * Transposes `x` with the SIMD kernel when `perm` amounts to a (batched) 2-D transpose of 4-byte
 * elements; undefined otherwise (the caller uses the stock kernel). The result is a new buffer.
 */
export function fastTranspose(backend: unknown, x: TensorInfo, perm: number[]): TensorInfo | undefined {
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return undefined;
  const k = simdKernels(backend);
  if (!k) return undefined;
  const c = collapsePermutation(x.shape, perm);
  let batch: number, rows: number, cols: number;
  if (c.perm.length === 2 && c.perm[0] === 1) [batch, rows, cols] = [1, c.shape[0], c.shape[1]];
  else if (c.perm.length === 3 && c.perm[0] === 0 && c.perm[1] === 2) [batch, rows, cols] = c.shape;
  else return undefined;
  const b = backend as WasmHeapBackend;
  const out = b.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
  k.transpose(heapOffset(b, x), heapOffset(b, out), batch, rows, cols);
  return out;
}
