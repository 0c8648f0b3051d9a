/**
 * The adjoint of nearest-neighbour resizing (`ResizeNearestNeighbor`), backend-neutral: the
 * project's `ResizeNearestNeighborGrad` on cpu (src/engine/backend/cpu, the stock kernel reads the
 * wrong dy slice for batch ≥ 2) and on wasm (src/engine/backend/wasm, the stock kernel ignores
 * `halfPixelCenters`) both call it on their own buffers.
 *
 * It walks every dy element, computes the source pixel with the formula both backends' forward
 * kernels use (alignCorners, halfPixelCenters, clamping) and adds dy there, so a pixel the forward
 * copied to n outputs receives the sum of those n gradients, for any ratio, not only integers.
 */

/** Source index along one axis, exactly as the forward kernels compute it. */
export function nearestSource(dst: number, inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixelCenters ? ratio * (dst + 0.5) : ratio * dst;
  let src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixelCenters) src = Math.max(0, src);
  return src;
}

/** Checks the shapes (rank 4, same batch and channels), naming the kernel in errors. */
export function checkNearestGradShapes(kernel: string, images: readonly number[], dy: readonly number[]): void {
  if (images.length !== 4 || dy.length !== 4) {
    throw new Error(`${kernel}: images [${images}] and dy [${dy}] must both be rank 4 [batch, height, width, channels]`);
  }
  if (dy[0] !== images[0] || dy[3] !== images[3]) {
    throw new Error(`${kernel}: dy [${dy}] does not match images [${images}] in batch or channels`);
  }
}

/**
 * dx (shape `images`, zeroed by the caller) += the adjoint of the resize applied to dy (shape
 * `dy`), both NHWC row-major.
 */
export function nearestGradInto(dy: ArrayLike<number>, dyShape: readonly number[], dx: Float32Array, imagesShape: readonly number[],
  alignCorners: boolean, halfPixelCenters: boolean): void {
  const [batch, inH, inW, depth] = imagesShape;
  const [, outH, outW] = dyShape;
  const srcRow = new Int32Array(outH);
  for (let r = 0; r < outH; r++) srcRow[r] = nearestSource(r, inH, outH, alignCorners, halfPixelCenters);
  const srcCol = new Int32Array(outW);
  for (let c = 0; c < outW; c++) srcCol[c] = nearestSource(c, inW, outW, alignCorners, halfPixelCenters);
  let i = 0; // dy is walked in order: [b, r, c, d]
  for (let b = 0; b < batch; b++) {
    const dxBatch = b * inH * inW * depth;
    for (let r = 0; r < outH; r++) {
      const dxRow = dxBatch + srcRow[r] * inW * depth;
      for (let c = 0; c < outW; c++) {
        const dxPix = dxRow + srcCol[c] * depth;
        for (let d = 0; d < depth; d++) dx[dxPix + d] += dy[i++];
      }
    }
  }
}
