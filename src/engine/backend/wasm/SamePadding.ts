/**
 * Correctness fix for the wasm forward convolutions with padding 'same'.
 *
 * tfjs-backend-wasm 4.22 passes 'same' to XNNPACK as its "TensorFlow SAME padding" flag. For a
 * filter with a 1-sized axis and a stride > 1 along the other axis (e.g. 3×1 filter, stride 2)
 * XNNPACK then pads differently from tfjs and the result is wrong (relative error ≈ 1 against the
 * cpu backend; measured for Conv2D and DepthwiseConv2dNative). Passing the very same padding as
 * explicit numbers gives the right result, at no cost: this wrapper computes tfjs' 'same' padding
 * and calls the stock kernel with it. Everything else goes to the stock kernel untouched.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { input, markOurs, pair, stockKernel, WASM } from './util';

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

function explicitSame(kernel: string, depthwise: boolean) {
  return (args: Args): TensorInfo | TensorInfo[] => {
    const stock = stockKernel(kernel);
    if (!stock) throw new Error(`stock wasm ${kernel} kernel is missing`);
    const attrs = (args.attrs ?? {}) as Record<string, unknown>;
    if (attrs.pad !== 'same') return (stock.kernelFunc as KernelFunc)(args as Parameters<KernelFunc>[0]);
    const x = input(kernel, args.inputs, 'x');
    const filter = input(kernel, args.inputs, 'filter');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides as number | [number, number],
      pair(attrs.dilations as number | [number, number] | undefined),
      'same',
      undefined,
      depthwise,
    );
    const p = info.padInfo;
    const pad = [
      [0, 0],
      [p.top, p.bottom],
      [p.left, p.right],
      [0, 0],
    ];
    return (stock.kernelFunc as KernelFunc)({ ...args, backend: args.backend as object, attrs: { ...attrs, pad } as NamedAttrMap });
  };
}

function config(kernel: string, depthwise: boolean): () => KernelConfig {
  return () =>
    markOurs({
      kernelName: kernel,
      backendName: WASM,
      kernelFunc: explicitSame(kernel, depthwise) as unknown as KernelFunc,
      setupFunc: stockKernel(kernel)?.setupFunc,
    });
}

export const samePaddingConfigs: Array<() => KernelConfig> = [
  config('Conv2D', false),
  config('FusedConv2D', false),
  config('DepthwiseConv2dNative', true),
  config('FusedDepthwiseConv2D', true),
];
