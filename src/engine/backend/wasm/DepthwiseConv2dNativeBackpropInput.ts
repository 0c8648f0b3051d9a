/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 *   dx[b,ih,iw,c] = Σ_{kh,kw,m} dy[b,oh,ow,c·M+m] · w[kh,kw,c,m],   ih + top = oh·s + kh·d
 *
 * dy is first "un-strided" (s-1 zeros inserted between rows/columns), then padded so that a
 * stride-1 'valid' depthwise correlation with the spatially flipped filter (multiplier 1 over the
 * C·M channels) gives every (c, m) contribution; summing over m gives dx. The correlation runs in
 * XNNPACK's depthwise convolution.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { assertChannelsLast, assertFloat32, input, markOurs, pair, WASM, withScope } from './util';

export const KERNEL = 'DepthwiseConv2dNativeBackpropInput';

export function depthwiseConv2dNativeBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const dy = input(KERNEL, args.inputs, 'dy');
  const filter = input(KERNEL, args.inputs, 'filter');
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    dilations?: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
    dataFormat?: string;
  };
  assertChannelsLast(KERNEL, attrs.dataFormat);
  assertFloat32(KERNEL, dy, filter);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    pair(attrs.dilations),
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const M = filter.shape[3];
  if (dy.shape[0] !== B || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C * M) {
    throw new Error(`${KERNEL}: dy shape [${dy.shape}] does not match the forward output [${B},${OH},${OW},${C * M}]`);
  }

  return withScope(args.backend, (s) => {
    if (OH === 0 || OW === 0 || B === 0) {
      return s.run('Fill', {}, { shape: [B, H, W, C], value: 0, dtype: 'float32' });
    }
    const up = s.zeroInsert(dy, sh, sw); // [B, OH·sh, OW·sw, C·M]
    const spanH = (KH - 1) * dh;
    const spanW = (KW - 1) * dw;
    const beforeH = spanH - info.padInfo.top;
    const beforeW = spanW - info.padInfo.left;
    const dyp = s.padOrCrop(up, [
      [0, 0],
      [beforeH, H + spanH - beforeH - OH * sh],
      [beforeW, W + spanW - beforeW - OW * sw],
      [0, 0],
    ]);
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const g = s.run('DepthwiseConv2dNative', { x: dyp, filter: s.view(flipped, [KH, KW, C * M, 1]) }, {
      strides: [1, 1],
      dilations: [dh, dw],
      pad: 'valid',
    }); // [B, H, W, C·M]
    if (g.shape[1] !== H || g.shape[2] !== W) {
      throw new Error(`internal: ${KERNEL} produced [${g.shape}] for input [${attrs.inputShape}]`);
    }
    if (M === 1) return g;
    const summed = s.run('Sum', { x: s.view(g, [B * H * W * C, M]) }, { axis: [1], keepDims: false });
    return s.view(summed, [B, H, W, C]);
  });
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = markOurs({
  kernelName: KERNEL,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
});
