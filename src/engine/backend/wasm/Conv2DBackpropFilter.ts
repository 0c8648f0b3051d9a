/**
 * Conv2DBackpropFilter for the wasm backend (tfjs-backend-wasm 4.22 has none, so conv nets cannot
 * train on it).
 *
 *   dW[kh,kw,ci,co] = Σ_{b,oh,ow} xp[b, oh·s + kh·d, ow·s + kw·d, ci] · dy[b,oh,ow,co]
 *
 * where xp is x padded as the forward pass pads it. Reading ci as a batch axis, b as the channel
 * axis to reduce, and dy as a filter of size OH×OW, this is itself a forward convolution:
 *
 *   x' = xp transposed to [Ci, Hp, Wp, B],  dy' = dy transposed to [OH, OW, B, Co]
 *   conv2d(x', dy', strides = d, dilations = s, 'valid') → [Ci, KH, KW, Co] → [KH, KW, Ci, Co]
 *
 * so the work runs in the backend's XNNPACK convolution. xp is cropped to exactly the rows and
 * columns the forward pass read, so the result has exactly KH×KW taps. The XNNPACK kernel accepts
 * strides and dilations > 1 at the same time (tfjs' conv2d op forbids it, the kernel does not).
 *
 * For the narrow layers of a student (few channels, e.g. 8 → 16) that convolution is a poor fit for
 * XNNPACK (a 14×14 "filter" with B input channels, packed on every call): there the SIMD module's
 * direct sum (simd/kernels.wat `convFilterGrad`, 4 output channels per instruction, zero inputs
 * skipped — after a ReLU about half) is 3–4× faster. `directCost` picks the path.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { WasmHeapBackend } from './simd';
import { heapOffset, simdKernels } from './simd';
import { assertChannelsLast, assertFloat32, input, markOurs, pair, WASM, withScope } from './util';

/**
 * Whether the direct sum is expected to beat the XNNPACK composition: it runs at roughly a fixed
 * cost per multiply-add, while the composition's GEMM gets efficient only with many channels.
 */
export function preferDirect(ci: number, co: number): boolean {
  return ci * co <= tuning.directMaxCiCo;
}

/** Crossover of the two paths (measured with .scratch-style sweeps; tests force each path). */
export const tuning = { directMaxCiCo: 256 };

export const KERNEL = 'Conv2DBackpropFilter';

export function conv2DBackpropFilter(args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const x = input(KERNEL, args.inputs, 'x');
  const dy = input(KERNEL, args.inputs, 'dy');
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    /** Not part of tfjs' attrs (its gradient requires dilation 1); honoured if a caller passes it. */
    dilations?: number | [number, number];
  };
  assertChannelsLast(KERNEL, attrs.dataFormat);
  assertFloat32(KERNEL, x, dy);
  const dil = pair(attrs.dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    dil,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  if (dy.shape[0] !== B || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== Co) {
    throw new Error(`${KERNEL}: dy shape [${dy.shape}] does not match the forward output [${B},${OH},${OW},${Co}]`);
  }

  const k = simdKernels(args.backend);
  if (k && preferDirect(Ci, Co) && OH > 0 && OW > 0 && B > 0) {
    const b = args.backend as WasmHeapBackend;
    const dW = b.makeOutput([KH, KW, Ci, Co], 'float32');
    k.convFilterGrad(heapOffset(b, x), heapOffset(b, dy), heapOffset(b, dW), B, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, dh, dw,
      info.padInfo.top, info.padInfo.left);
    return dW;
  }
  return withScope(args.backend, (s) => {
    if (OH === 0 || OW === 0 || B === 0) {
      return s.run('Fill', {}, { shape: [KH, KW, Ci, Co], value: 0, dtype: 'float32' });
    }
    // Rows/columns of the padded input the forward pass touched.
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
    const xT = s.transpose(xp, [3, 1, 2, 0]); // [Ci, needH, needW, B]
    const dyT = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
    const g = s.run('Conv2D', { x: xT, filter: dyT }, {
      strides: [dh, dw],
      dilations: [sh, sw],
      pad: 'valid',
      dataFormat: 'NHWC',
    }); // [Ci, KH, KW, Co]
    if (g.shape[1] !== KH || g.shape[2] !== KW) {
      throw new Error(`internal: ${KERNEL} produced [${g.shape}] for a ${KH}×${KW} filter`);
    }
    return s.transpose(g, [1, 2, 0, 3]);
  });
}

export const conv2DBackpropFilterConfig: KernelConfig = markOurs({
  kernelName: KERNEL,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
});
