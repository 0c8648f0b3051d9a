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
