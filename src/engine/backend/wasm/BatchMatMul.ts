/**
 * Faster BatchMatMul for the wasm backend when an operand is transposed.
 *
 * The stock kernel hands the product to XNNPACK only when neither operand is transposed; with
 * transposeA or transposeB set (every Dense layer's backward pass) it runs a scalar loop. Here the
 * transpose is materialised with the wasm Transpose kernel (a cheap memory pass) and the
 * untransposed, XNNPACK path of the stock kernel does the product.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { input, markOurs, stockKernel, WASM, withScope } from './util';

export const KERNEL = 'BatchMatMul';

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

export function batchMatMul(args: Args): TensorInfo {
  const a = input(KERNEL, args.inputs, 'a');
  const b = input(KERNEL, args.inputs, 'b');
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const stock = stockKernel(KERNEL);
  if (!stock) throw new Error(`stock wasm ${KERNEL} kernel is missing`);
  const stockFunc = stock.kernelFunc as KernelFunc;
  if (!attrs.transposeA && !attrs.transposeB) {
    return stockFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  return withScope(args.backend, (s) => {
    const a2 = attrs.transposeA ? s.transposeLast2(a) : a;
    const b2 = attrs.transposeB ? s.transposeLast2(b) : b;
    return s.run(KERNEL, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
  });
}

export function batchMatMulConfig(): KernelConfig {
  return markOurs({
    kernelName: KERNEL,
    backendName: WASM,
    kernelFunc: batchMatMul as unknown as KernelFunc,
    setupFunc: stockKernel(KERNEL)?.setupFunc,
  });
}
