/**
 * Training-time augmentation. `shift`: every image moves by a random whole number of pixels in
 * [-s, s] along each axis, zero-filled (Hinton et al. 2015's "jitter"). Works in place on a gathered
 * batch laid out [N, H, W, C]; draws from `random` (default Math.random, which the training loop
 * seeds per job), two values per image.
 */
export function shiftImages(x: Float32Array, n: number, shape: number[], maxShift: number, random: () => number = Math.random): void {
  if (maxShift <= 0) return;
  if (shape.length !== 3) throw new Error(`data.augment.shift: expected images [H, W, C], found samples of shape [${shape.join(', ')}]`);
  const [h, w, c] = shape;
  const per = h * w * c;
  const tmp = new Float32Array(per);
  for (let i = 0; i < n; i++) {
    const dy = Math.floor(random() * (2 * maxShift + 1)) - maxShift;
    const dx = Math.floor(random() * (2 * maxShift + 1)) - maxShift;
    if (dx === 0 && dy === 0) continue;
    const img = x.subarray(i * per, (i + 1) * per);
    tmp.fill(0);
    for (let r = 0; r < h; r++) {
      const sr = r - dy;
      if (sr < 0 || sr >= h) continue;
      for (let q = 0; q < w; q++) {
        const sq = q - dx;
        if (sq < 0 || sq >= w) continue;
        for (let k = 0; k < c; k++) tmp[(r * w + q) * c + k] = img[(sr * w + sq) * c + k];
      }
    }
    img.set(tmp);
  }
}

/**
 * Random crop with padding (the CIFAR recipe): every image is padded with `pad` zero pixels on each
 * side and the original H×W is cut out at offset (oy, ox), each drawn uniformly from 0..2·pad
 * (two values per image, oy first). Output pixel (r, q) is the padded image's (r + oy, q + ox), i.e.
 * the source's (r + oy − pad, q + ox − pad), zero outside. In place on [N, H, W, C].
 */
export function cropImages(x: Float32Array, n: number, shape: number[], pad: number, random: () => number = Math.random): void {
  if (pad <= 0) return;
  if (shape.length !== 3) throw new Error(`data.augment.crop: expected images [H, W, C], found samples of shape [${shape.join(', ')}]`);
  const [h, w, c] = shape;
  const per = h * w * c;
  const tmp = new Float32Array(per);
  for (let i = 0; i < n; i++) {
    const oy = Math.floor(random() * (2 * pad + 1));
    const ox = Math.floor(random() * (2 * pad + 1));
    if (oy === pad && ox === pad) continue;
    const img = x.subarray(i * per, (i + 1) * per);
    tmp.fill(0);
    for (let r = 0; r < h; r++) {
      const sr = r + oy - pad;
      if (sr < 0 || sr >= h) continue;
      for (let q = 0; q < w; q++) {
        const sq = q + ox - pad;
        if (sq < 0 || sq >= w) continue;
        for (let k = 0; k < c; k++) tmp[(r * w + q) * c + k] = img[(sr * w + sq) * c + k];
      }
    }
    img.set(tmp);
  }
}

/** Horizontal flip: every image is mirrored left–right when its draw is < 0.5 (one value per image). In place on [N, H, W, C]. */
export function flipImages(x: Float32Array, n: number, shape: number[], random: () => number = Math.random): void {
  if (shape.length !== 3) throw new Error(`data.augment.flip: expected images [H, W, C], found samples of shape [${shape.join(', ')}]`);
  const [h, w, c] = shape;
  const per = h * w * c;
  for (let i = 0; i < n; i++) {
    if (random() >= 0.5) continue;
    const base = i * per;
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < w >> 1; q++) {
        const a = base + (r * w + q) * c;
        const b = base + (r * w + (w - 1 - q)) * c;
        for (let k = 0; k < c; k++) {
          const t = x[a + k];
          x[a + k] = x[b + k];
          x[b + k] = t;
        }
      }
    }
  }
}

/** All of `data.augment`, in order: shift, crop, flip. */
export function augmentBatch(x: Float32Array, n: number, shape: number[], aug: { shift?: number; crop?: number; flip?: boolean }, random: () => number): void {
  if (aug.shift) shiftImages(x, n, shape, aug.shift, random);
  if (aug.crop) cropImages(x, n, shape, aug.crop, random);
  if (aug.flip) flipImages(x, n, shape, random);
}
