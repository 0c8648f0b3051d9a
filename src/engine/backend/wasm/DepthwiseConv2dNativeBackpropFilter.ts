/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 *   dW[kh,kw,c,m] = Σ_{b,oh,ow} xp[b, oh·s + kh·d, ow·s + kw·d, c] · dy[b,oh,ow,c·M+m]
 *
 * Treating every (c, b) pair as one channel of a single image, this is a depthwise convolution
 * whose "filter" is dy (OH×OW taps, multiplier M), followed by a sum over b:
 *
 *   x'  = xp transposed to [1, Hp, Wp, C·B]          (channel index c·B + b)
 *   dy' = dy as [B,OH,OW,C,M] transposed to [OH, OW, C·B, M]
 *   depthwiseConv2d(x', dy', strides = d, dilations = s, 'valid') → [1, KH, KW, C·B·M]
 *   sum over b                                              → [KH, KW, C, M]
 *
 * The multiply-adds are exactly those of the gradient (no wasted cross-channel terms) and run in
 * XNNPACK; the rest is two transposes and one reduction.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { assertChannelsLast, assertFloat32, input, markOurs, pair, WASM, withScope } from './util';

export const KERNEL = 'DepthwiseConv2dNativeBackpropFilter';

export function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const x = input(KERNEL, args.inputs, 'x');
  const dy = input(KERNEL, args.inputs, 'dy');
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    dilations?: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    dataFormat?: string;
  };
  assertChannelsLast(KERNEL, attrs.dataFormat);
  assertFloat32(KERNEL, x, dy);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    pair(attrs.dilations),
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const M = attrs.filterShape[3];
  if (dy.shape[0] !== B || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C * M) {
    throw new Error(`${KERNEL}: dy shape [${dy.shape}] does not match the forward output [${B},${OH},${OW},${C * M}]`);
  }

  return withScope(args.backend, (s) => {
    if (OH === 0 || OW === 0 || B === 0) {
      return s.run('Fill', {}, { shape: [KH, KW, C, M], value: 0, dtype: 'float32' });
    }
    const needH = (OH - 1) * sh + (KH - 1) * dh + 1;
    const needW = (OW - 1) * sw + (KW - 1) * dw + 1;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const xp = s.padOrCrop(x, [
      [0, 0],
      [top, needH - top - H],
      [left, needW - left - W],
      [0, 0],
    ]);
    const xT = s.view(s.transpose(xp, [1, 2, 3, 0]), [1, needH, needW, C * B]);
    const dyT = s.view(s.transpose(s.view(dy, [B, OH, OW, C, M]), [1, 2, 3, 0, 4]), [OH, OW, C * B, M]);
    const g = s.run('DepthwiseConv2dNative', { x: xT, filter: dyT }, {
      strides: [dh, dw],
      dilations: [sh, sw],
      pad: 'valid',
    }); // [1, KH, KW, C·B·M]
    if (g.shape[1] !== KH || g.shape[2] !== KW) {
      throw new Error(`internal: ${KERNEL} produced [${g.shape}] for a ${KH}×${KW} filter`);
    }
    if (B === 1) return s.view(g, [KH, KW, C, M]);
    const summed = s.run('Sum', { x: s.view(g, [KH * KW * C, B, M]) }, { axis: [1], keepDims: false });
    return s.view(summed, [KH, KW, C, M]);
  });
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = markOurs({
  kernelName: KERNEL,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
});
