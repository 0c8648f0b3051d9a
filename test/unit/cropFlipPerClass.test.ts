/**
 * Crop-with-padding and horizontal-flip augmentation against explicit pad-then-slice and mirror
 * computations; per-class accuracy and confusion matrices against direct counting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentBatch, cropImages, flipImages } from '../../src/engine/data/augment';
import { makeRng } from '../../src/engine/data/rng';
import { evaluateLogits } from '../../src/engine/training/evaluate';
import { classAccuracy, confusionMatrix, perClassReport } from '../../src/engine/results/perClass';

/** Pads [h, w, c] with p zeros on every side, then cuts h×w at (oy, ox): the definition of the crop. */
function padCrop(img: number[], h: number, w: number, c: number, p: number, oy: number, ox: number): number[] {
  const H = h + 2 * p, Wd = w + 2 * p;
  const padded = new Array<number>(H * Wd * c).fill(0);
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) for (let k = 0; k < c; k++) padded[((r + p) * Wd + q + p) * c + k] = img[(r * w + q) * c + k];
  const out: number[] = [];
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) for (let k = 0; k < c; k++) out.push(padded[((r + oy) * Wd + q + ox) * c + k]);
  return out;
}

test('crop with padding equals pad-then-slice at the drawn offsets, for every offset', () => {
  const [h, w, c, p] = [4, 5, 2, 2];
  const img = Array.from({ length: h * w * c }, (_, i) => i + 1);
  for (let oy = 0; oy <= 2 * p; oy++) {
    for (let ox = 0; ox <= 2 * p; ox++) {
      const x = Float32Array.from(img);
      // draws r map to floor(r·(2p+1)): pick r at the middle of the offset's interval
      const draws = [(oy + 0.5) / (2 * p + 1), (ox + 0.5) / (2 * p + 1)];
      let i = 0;
      cropImages(x, 1, [h, w, c], p, () => draws[i++]);
      assert.deepEqual(Array.from(x), padCrop(img, h, w, c, p, oy, ox), `offset (${oy}, ${ox})`);
    }
  }
});

test('flip mirrors columns (channels kept together) when the draw is < 0.5; twice is the identity', () => {
  const [h, w, c] = [2, 3, 2];
  const img = Array.from({ length: h * w * c }, (_, i) => i);
  const mirrored: number[] = [];
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) for (let k = 0; k < c; k++) mirrored.push(img[(r * w + (w - 1 - q)) * c + k]);
  const x = Float32Array.from([...img, ...img]);
  const draws = [0.2, 0.7];
  let i = 0;
  flipImages(x, 2, [h, w, c], () => draws[i++]);
  assert.deepEqual(Array.from(x.subarray(0, img.length)), mirrored);
  assert.deepEqual(Array.from(x.subarray(img.length)), img, 'draw 0.7: not flipped');
  i = 0;
  flipImages(x, 1, [h, w, c], () => 0);
  assert.deepEqual(Array.from(x.subarray(0, img.length)), img);
  assert.throws(() => flipImages(new Float32Array(4), 1, [4], () => 0), /data\.augment\.flip: expected images/);
});

test('augmentBatch: the same seed gives the same crops and flips, another seed others', () => {
  const base = Float32Array.from({ length: 8 * 6 * 6 * 1 }, (_, i) => (i * 13) % 17);
  const run = (seed: number) => {
    const x = Float32Array.from(base);
    augmentBatch(x, 8, [6, 6, 1], { crop: 2, flip: true }, makeRng(seed));
    return Array.from(x);
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
  assert.notDeepEqual(run(5), Array.from(base));
});

test('per-class accuracy and confusion matrix equal direct counts; evaluateLogits carries them', () => {
  const rng = makeRng(3);
  const c = 5;
  const n = 400;
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng() * c));
  const logits = Float32Array.from({ length: n * c }, () => rng());
  const pred = Array.from({ length: n }, (_, i) => {
    let b = 0;
    for (let j = 1; j < c; j++) if (logits[i * c + j] > logits[i * c + b]) b = j;
    return b;
  });
  const m = confusionMatrix(pred, labels, c);
  for (let t = 0; t < c; t++) {
    for (let p = 0; p < c; p++) assert.equal(m[t][p], pred.filter((q, i) => labels[i] === t && q === p).length);
    const ofT = pred.filter((_, i) => labels[i] === t);
    assert.equal(classAccuracy(m)[t], ofT.filter((q) => q === t).length / ofT.length);
  }
  const ev = evaluateLogits(logits, labels, c);
  assert.deepEqual(ev.perClass.confusion, m);
  assert.equal(m.flat().reduce((a, b) => a + b, 0), n);
  assert.equal(classAccuracy([[0, 0], [1, 1]])[0], null, 'a class without samples has no accuracy');
});

test('per-class report: seeds pooled, drops against the teacher ranked largest first, names kept', () => {
  const teacher = { acc: [0.9, 0.8, 1], confusion: [[9, 1, 0], [2, 8, 0], [0, 0, 10]] };
  const d1 = { acc: [], confusion: [[9, 1, 0], [5, 5, 0], [0, 2, 8]] };
  const d2 = { acc: [], confusion: [[8, 2, 0], [3, 7, 0], [0, 0, 10]] };
  const r = perClassReport({ classes: 3, classNames: ['cat', 'dog', 'eel'], teacher, distill: [d1, d2] })!;
  assert.deepEqual(r.distill!.confusion, [[17, 3, 0], [8, 12, 0], [0, 2, 18]]);
  assert.deepEqual(r.gaps.map((g) => g.name), ['dog', 'eel', 'cat']);
  assert.ok(Math.abs(r.gaps[0].drop - (0.8 - 12 / 20)) < 1e-12);
  assert.equal(r.reference, 'teacher');
  assert.deepEqual(r.support, [10, 10, 10]);
});
