/**
 * Similarity figures of a layer pair, computed in the engine for the feature-map panel. Pure
 * float64 arithmetic on plain arrays (no TensorFlow.js), so each one is easy to check by hand.
 *
 * - linear CKA (Kornblith et al. 2019) of two representations of the same n samples, X (n×p) and
 *   Y (n×q), columns centred: CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F), computed through the n×n Gram
 *   matrices K = XXᵀ, L = YYᵀ as ⟨K, L⟩ / (‖K‖ · ‖L‖). 1 for identical (or orthogonally rotated,
 *   isotropically scaled) representations, 0 when every feature of X is orthogonal to every
 *   feature of Y. Shapes may differ (p ≠ q).
 * - cosine similarity and mean squared error of two vectors of equal length.
 * - attention maps (attention transfer): a = Σ_c |F_c|^p over channels, divided by its L2 norm.
 */

type Vec = ArrayLike<number>;

/** Linear CKA of X (n×p, row-major) and Y (n×q, row-major). NaN when either is constant. */
export function linearCka(x: Vec, y: Vec, n: number): number {
  const p = x.length / n;
  const q = y.length / n;
  if (!Number.isInteger(p) || !Number.isInteger(q)) throw new Error(`linearCka: ${x.length} and ${y.length} values are not n=${n} rows`);
  const k = centredGram(x, n, p);
  const l = centredGram(y, n, q);
  let kl = 0;
  let kk = 0;
  let ll = 0;
  for (let i = 0; i < n * n; i++) {
    kl += k[i] * l[i];
    kk += k[i] * k[i];
    ll += l[i] * l[i];
  }
  return kl / Math.sqrt(kk * ll);
}

/** X Xᵀ of the column-centred X (n×d). */
function centredGram(x: Vec, n: number, d: number): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const c = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) c[i * d + j] = x[i * d + j] - mean[j];
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = i; k < n; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += c[i * d + j] * c[k * d + j];
      g[i * n + k] = s;
      g[k * n + i] = s;
    }
  }
  return g;
}

export function cosine(a: Vec, b: Vec): number {
  if (a.length !== b.length) throw new Error(`cosine: lengths differ (${a.length} vs ${b.length})`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

export function mse(a: Vec, b: Vec): number {
  if (a.length !== b.length) throw new Error(`mse: lengths differ (${a.length} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / Math.max(1, a.length);
}

/** One sample's feature map (h×w×c, channels last) split into c channel images of h×w. */
export function channels(hwc: Vec, h: number, w: number, c: number, max = Infinity): number[][] {
  const out: number[][] = [];
  for (let ch = 0; ch < Math.min(c, max); ch++) {
    const img = new Array<number>(h * w);
    for (let i = 0; i < h * w; i++) img[i] = hwc[i * c + ch];
    out.push(img);
  }
  return out;
}

/** Attention map Σ_c |F_c|^p (h×w), L2-normalised as in attention transfer. */
export function attentionMap(hwc: Vec, h: number, w: number, c: number, p = 2): number[] {
  const a = new Array<number>(h * w).fill(0);
  for (let i = 0; i < h * w; i++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += Math.abs(hwc[i * c + ch]) ** p;
    a[i] = s;
  }
  const norm = Math.sqrt(a.reduce((t, v) => t + v * v, 0));
  return norm > 0 ? a.map((v) => v / norm) : a;
}
