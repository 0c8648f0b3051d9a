/**
 * Writes python/tests/fixtures/similarity_ts.json: inputs and what src/engine/results/similarity.ts
 * computes on them, so the torch engine's port (python/distill_torch/probe.py) is checked against
 * the TypeScript values (python/tests/test_probe.py). Run: node --import tsx test/helpers/write-similarity-fixture.ts
 */
import * as fs from 'fs';
import * as path from 'path';
import { attentionMap, channels, cosine, linearCka, mse } from '../../src/engine/results/similarity';

// A fixed, irregular draw (a small LCG: the fixture must not depend on Math.random).
let state = 12345;
const next = (): number => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648 - 0.5;
};
const n = 9;
const x = Array.from({ length: n * 6 }, next);
const y = x.slice(0, n * 4).map((v, i) => v * 0.7 + next() + (i % 3) * 0.1);
const a = Array.from({ length: 24 }, next);
const b = a.map((v) => v + 0.3 * next());
const [h, w, c] = [3, 4, 5];
const map = Array.from({ length: h * w * c }, next);
const out = {
  n, x, y, cka: linearCka(x, y, n), a, b, cosine: cosine(a, b), mse: mse(a, b),
  hwc: [h, w, c], map, attention: attentionMap(map, h, w, c), channels: channels(map, h, w, c, 2),
};
const file = path.join(__dirname, '..', '..', 'python', 'tests', 'fixtures', 'similarity_ts.json');
fs.writeFileSync(file, `${JSON.stringify(out, null, 1)}\n`);
console.log(`wrote ${file}`);
