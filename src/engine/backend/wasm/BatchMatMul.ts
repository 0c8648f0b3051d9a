/**
 * Faster BatchMatMul for the wasm backend when an operand is transposed.
 *
 * The stock kernel hands the product to XNNPACK only when neither operand is transposed; with
 * transposeA or transposeB set (every Dense layer's backward pass) it runs a scalar loop. Here the
 * transpose is materialised with the wasm Transpose kernel (a cheap memory pass) and the
 * untransposed, XNNPACK path of the stock kernel does the product.
 *
 * When B is the large operand (a Dense layer's input gradient: dy[64, out] · W[in, out]ᵀ), the
 * product is computed the other way round, C = (B · Aᵀ)ᵀ: only the small A and C are transposed,
 * and XNNPACK packs the small Aᵀ instead of the whole weight matrix (2.5 → 1.3 ms for 64×800·800×800ᵀ).
 * Each form is picked by the number of elements it has to move.
 *
 * Untransposed products pay for packing: XNNPACK packs B (≈3 ns per element, 2 ms for 784×800)
 * the first time it sees a buffer and caches the packing until the buffer is freed. A trained
 * weight is a fresh buffer after every optimizer step, so it would be packed on every forward
 * pass for a single use. The first time a B buffer is seen with a small A (a training batch), the
 * product is computed swapped, (Bᵀ·Aᵀ)ᵀ, which packs only the small Aᵀ; the second time (a frozen
 * teacher's weights, an evaluation pass) it goes to XNNPACK directly and stays packed.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { KernelScope } from './util';
import { input, markOurs, stockKernel, WASM, withScope } from './util';

export const KERNEL = 'BatchMatMul';

/** B buffers already multiplied (so XNNPACK may hold them packed); entries vanish with the buffers. */
const seenAsB = new WeakSet<object>();

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

export function batchMatMul(args: Args): TensorInfo {
  const a = input(KERNEL, args.inputs, 'a');
  const b = input(KERNEL, args.inputs, 'b');
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const stock = stockKernel(KERNEL);
  if (!stock) throw new Error(`stock wasm ${KERNEL} kernel is missing`);
  const stockFunc = stock.kernelFunc as KernelFunc;
  const r = a.shape.length;
  const [m, k] = attrs.transposeA ? [a.shape[r - 1], a.shape[r - 2]] : [a.shape[r - 2], a.shape[r - 1]];
  const n = attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  const plain = { transposeA: false, transposeB: false };
  /** (op(B)ᵀ·op(A)ᵀ)ᵀ: transposes the operands that are *not* transposed, and the result. */
  const swappedProduct = (s: KernelScope) => s.transposeLast2(s.run(KERNEL, {
    a: attrs.transposeB ? b : s.transposeLast2(b),
    b: attrs.transposeA ? a : s.transposeLast2(a),
  }, plain));
  // Elements moved by each form: direct = transposing the transposed operands; swapped as above.
  const swapped = (attrs.transposeA ? 0 : m * k) + (attrs.transposeB ? 0 : k * n) + m * n;
  if (!attrs.transposeA && !attrs.transposeB) {
    // Direct moves nothing, but XNNPACK packs all of B (k·n elements, several times the cost of
    // moving them) the first time it sees it; the swap pays when its other moves (A and the
    // result, m·k + m·n) are fewer than B's elements.
    const firstSight = !seenAsB.has(b.dataId as object);
    seenAsB.add(b.dataId as object);
    if (firstSight && a.shape.length === 2 && b.shape.length === 2 && m * (k + n) < k * n) return withScope(args.backend, swappedProduct);
    return stockFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const direct = (attrs.transposeA ? m * k : 0) + (attrs.transposeB ? k * n : 0);
  return withScope(args.backend, (s) => swapped < direct
    ? swappedProduct(s)
    : s.run(KERNEL, { a: attrs.transposeA ? s.transposeLast2(a) : a, b: attrs.transposeB ? s.transposeLast2(b) : b }, plain));
}

export function batchMatMulConfig(): KernelConfig {
  return markOurs({
    kernelName: KERNEL,
    backendName: WASM,
    kernelFunc: batchMatMul as unknown as KernelFunc,
    setupFunc: stockKernel(KERNEL)?.setupFunc,
  });
}
