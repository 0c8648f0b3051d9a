/**
 * Decode speed of the image-folder decoders (pngjs, jpeg-js: pure JavaScript, platform-neutral):
 * images per second for small greyscale / RGB PNGs and RGB JPEGs of a few sizes, decoded the way
 * the engine does (decodeImage), on one core.
 *
 *   node --import tsx bench/decode-images.ts
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage } from '../src/engine/data/images';

function image(w: number, h: number): Buffer {
  const d = Buffer.alloc(w * h * 4);
  for (let i = 0; i < d.length; i++) d[i] = i % 4 === 3 ? 255 : (Math.sin(i * 0.01) * 60 + (i % 97)) & 255;
  return d;
}

function bench(label: string, file: Buffer): void {
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (Number(process.hrtime.bigint() - t0) < 1.5e9) {
    decodeImage(file, label);
    n++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${label.padEnd(28)} ${String(file.length).padStart(7)} bytes  ${Math.round(n / s).toString().padStart(6)} images/s`);
}

for (const [w, h, grey] of [[28, 28, true], [32, 32, false], [64, 64, false], [224, 224, false]] as const) {
  const png = new PNG({ width: w, height: h });
  png.data = image(w, h);
  bench(`PNG ${w}×${h} ${grey ? 'grey' : 'RGB'}`, PNG.sync.write(png, { colorType: grey ? 0 : 2 }));
  bench(`JPEG ${w}×${h} RGB q90`, jpeg.encode({ width: w, height: h, data: image(w, h) }, 90).data);
}
