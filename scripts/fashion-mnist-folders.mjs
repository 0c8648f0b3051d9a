#!/usr/bin/env node
/**
 * Writes Fashion-MNIST as PNG image folders (the ImageFolder layout Distill Studio's "images" format
 * reads): <out>/train/<label>-<name>/<index>.png and <out>/test/…, 28×28 greyscale.
 *
 * The data comes from Debian's `dataset-fashion-mnist` package (`apt-get install dataset-fashion-mnist`,
 * files in /usr/share/datasets/fashion-mnist), or from any folder holding the four IDX files
 * (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-…), given with --from.
 *
 *   node scripts/fashion-mnist-folders.mjs [--from DIR] [--out examples/data/fashion-mnist] [--train N] [--test N]
 *
 * --train / --test keep the first N images of each split (default: all, 60000 and 10000). Folder
 * names start with the label so that their sorted order is Fashion-MNIST's label order. Existing
 * files are left as they are (the script never overwrites).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PNG } from 'pngjs';

const CLASSES = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const from = flag('from', '/usr/share/datasets/fashion-mnist');
const out = path.resolve(flag('out', path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'examples', 'data', 'fashion-mnist')));
const limits = { train: Number(flag('train', '60000')), test: Number(flag('test', '10000')) };

function readIdx(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch {
    console.error(`${file}: not found. Install Debian's dataset-fashion-mnist package, or give --from DIR with the four IDX files.`);
    process.exit(2);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) throw new Error(`${file}: not an IDX ubyte file`);
  const nd = buf[3];
  const dims = Array.from({ length: nd }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * nd) };
}

const t0 = Date.now();
let written = 0;
for (const [split, prefix] of [['train', 'train'], ['test', 't10k']]) {
  const images = readIdx(path.join(from, `${prefix}-images-idx3-ubyte.gz`));
  const labels = readIdx(path.join(from, `${prefix}-labels-idx1-ubyte.gz`));
  const [n, h, w] = images.dims;
  const count = Math.min(n, limits[split]);
  for (let c = 0; c < CLASSES.length; c++) fs.mkdirSync(path.join(out, split, `${c}-${CLASSES[c]}`), { recursive: true });
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    const file = path.join(out, split, `${label}-${CLASSES[label]}`, `${String(i).padStart(5, '0')}.png`);
    if (fs.existsSync(file)) continue;
    const png = new PNG({ width: w, height: h });
    const px = images.data.subarray(i * h * w, (i + 1) * h * w);
    for (let p = 0; p < h * w; p++) {
      png.data[p * 4] = png.data[p * 4 + 1] = png.data[p * 4 + 2] = px[p];
      png.data[p * 4 + 3] = 255;
    }
    fs.writeFileSync(file, PNG.sync.write(png, { colorType: 0 })); // 8-bit greyscale PNG
    written++;
  }
  console.log(`${split}: ${count} images in ${path.join(out, split)}`);
}
console.log(`${written} PNG files written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
