/**
 * Faster Conv2DBackpropInput for the wasm backend (stride 1).
 *
 * The stock kernel is a scalar loop. With stride 1 the input gradient is a plain "full"
 * correlation of dy with the spatially flipped filter whose in/out channels are swapped:
 *
 *   dx[b,ih,iw,ci] = Σ_{kh,kw,co} dyp[b, ih + kh, iw + kw, co] · w[KH-1-kh, KW-1-kw, ci, co]
 *
 * with dyp = dy padded by (KH-1-top) rows before (KW-1-left columns) and whatever makes the output
 * exactly H×W after (negative amounts crop). That runs in XNNPACK's forward convolution.
 * Strided cases go to the stock kernel (zero-inserting dy would waste s² of the work).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { assertChannelsLast, input, markOurs, stockKernel, WASM, withScope } from './util';

export const KERNEL = 'Conv2DBackpropInput';

type Args = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

export function conv2DBackpropInput(args: Args): TensorInfo {
  const dy = input(KERNEL, args.inputs, 'dy');
  const filter = input(KERNEL, args.inputs, 'filter');
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  assertChannelsLast(KERNEL, attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  if (sh !== 1 || sw !== 1 || dy.dtype !== 'float32' || filter.dtype !== 'float32' || OH === 0 || OW === 0) {
    return callStock(args);
  }
  return withScope(args.backend, (s) => {
    const before = KH - 1 - info.padInfo.top;
    const beforeW = KW - 1 - info.padInfo.left;
    const dyp = s.padOrCrop(dy, [
      [0, 0],
      [before, H + KH - 1 - before - OH],
      [beforeW, W + KW - 1 - beforeW - OW],
      [0, 0],
    ]);
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const wT = s.transpose(flipped, [0, 1, 3, 2]); // [KH, KW, Co, Ci]
    return s.run('Conv2D', { x: dyp, filter: wT }, { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC' });
  });
}

function callStock(args: Args): TensorInfo {
  const cfg = stockKernel(KERNEL);
  if (!cfg) throw new Error(`stock wasm ${KERNEL} kernel is missing`);
  return (cfg.kernelFunc as KernelFunc)(args as Parameters<KernelFunc>[0]) as TensorInfo;
}

/** Built lazily: it keeps the stock kernel's setupFunc so the stock path stays initialised. */
export function conv2DBackpropInputConfig(): KernelConfig {
  return markOurs({
    kernelName: KERNEL,
    backendName: WASM,
    kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
    setupFunc: stockKernel(KERNEL)?.setupFunc,
  });
}
