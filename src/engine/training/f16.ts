/**
 * IEEE 754 half precision (float16) in plain typed arrays: the teacher-feature cache stores
 * activations at half the memory. Round to nearest even; overflow to ±Infinity; subnormals kept.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000; // subnormal half: shift in the implicit bit
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // a carry into the exponent is still correct
  return sign | half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function encodeHalf(src: Float32Array, dst: Uint16Array, offset = 0): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] = toHalf(src[i]);
}

/** Rows `idx` of a row-major [N, per] float16 matrix, decoded into float32. */
export function gatherHalfRows(all: Uint16Array, idx: Int32Array, per: number): Float32Array {
  const out = new Float32Array(idx.length * per);
  for (let i = 0; i < idx.length; i++) {
    const base = idx[i] * per;
    for (let j = 0; j < per; j++) out[i * per + j] = fromHalf(all[base + j]);
  }
  return out;
}
