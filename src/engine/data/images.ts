/**
 * Image folders (the torchvision `ImageFolder` convention): `<path>/<class>/<image>.png|.jpg`.
 *
 * - Classes are the subfolders, sorted by name (code-point order); their index is the label. A test
 *   folder's classes are looked up by name among the training classes.
 * - Files: PNG (greyscale, RGB, palette, with or without alpha; 1, 2, 4, 8 or 16 bits — 16-bit values
 *   become 8-bit as round(v · 255 / 65535)) and JPEG (baseline and progressive, greyscale, RGB,
 *   CMYK), decoded by the pure-JavaScript `pngjs` and `jpeg-js`. Other files (hidden files, text)
 *   are skipped; a file named .png/.jpg that does not decode is an error naming the file.
 * - Channels: 3 (RGB; a greyscale image is repeated) or 1 (greyscale; a colour image becomes
 *   0.299 R + 0.587 G + 0.114 B, ITU-R 601). Alpha is dropped (as PIL's `convert("RGB")`).
 * - Resizing (when `size` is given and differs): bilinear with half-pixel centres — output pixel
 *   (y, x) samples the source at ((y + 0.5)·H_in/H_out − 0.5, (x + 0.5)·W_in/W_out − 0.5), clamped
 *   to the image, from its 4 neighbours (no anti-aliasing; OpenCV's INTER_LINEAR and
 *   tf.image.resize(antialias=False)). Values are rounded to the nearest integer 0..255.
 * - Order of the samples: round-robin over the classes (the first image of every class, then the
 *   second, …), so that `limit` keeps every class.
 * - Cache: the decoded pixels (uint8, [N, H, W, C]) go to `.distill/cache/images/<key>.u8` beside
 *   the experiment, with a `<key>.json` header, where key = SHA-256 of the settings and of every
 *   file's class, name and content hash. The content hashes are remembered per folder by file
 *   size and modification time, so a second run only lists and stats the files: it reads no image.
 *   The torch engine reads and writes the same cache (python/distill_torch/image_cache.py: same
 *   folder, key, header and pixel layout), so a change to any of them is made in both.
 *
 * A split whose pixels as float32 exceed `memoryMB` is not loaded: it streams from the cache file
 * (see stream.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DiskRows } from './stream';
import { applyLimit, Dataset, dataError, sampleSize } from './types';

/** Bump when the decoded values of the same files would change (decoder, resize, conversion). */
const CACHE_VERSION = 1;

export interface ImagesOptions {
  field: string;
  /** The folder (absolute). */
  dir: string;
  size?: [number, number];
  channels: 1 | 3;
  limit?: number;
  /** The experiment's folder: the cache goes to `<baseDir>/.distill/cache/images`. */
  cacheRoot: string;
  /** Float32 bytes above which the split streams from disk. */
  memoryBytes: number;
  /** The training classes (for a test folder: its classes are mapped by name). */
  trainClasses?: string[];
}

/** Counters a test reads to see what a load did (images decoded, image files read). */
export const imageStats = { decoded: 0, filesRead: 0 };

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per value. */
  rgba: Uint8Array;
  /** True when the source has no colour (greyscale PNG, one-component JPEG). */
  grey: boolean;
}

/** Decodes a PNG or JPEG file's bytes (recognised by their signature). Errors name `file`. */
export function decodeImage(buf: Buffer, file: string, field?: string): DecodedImage {
  imageStats.decoded++;
  const isPng = buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47;
  const isJpeg = buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
  if (isPng) {
    let png: ReturnType<typeof PNG.sync.read>;
    try {
      png = PNG.sync.read(buf);
    } catch (e) {
      throw dataError(`cannot decode this PNG (${buf.length} bytes): truncated or corrupt (${(e as Error).message})`, file, field);
    }
    return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length), grey: !png.color };
  }
  if (isJpeg) {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 });
    } catch (e) {
      throw dataError(`cannot decode this JPEG (${buf.length} bytes): truncated or corrupt (${(e as Error).message})`, file, field);
    }
    return { width: img.width, height: img.height, rgba: img.data, grey: jpegComponents(buf) === 1 };
  }
  const head = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw dataError(`not a PNG or JPEG image: it starts with bytes ${head || '(none, the file is empty)'}`, file, field);
}

/** The number of colour components in a JPEG's start-of-frame header. */
function jpegComponents(buf: Buffer): number {
  for (let o = 2; o + 9 < buf.length; ) {
    if (buf[o] !== 0xff) return 3;
    const marker = buf[o + 1];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return buf[o + 9];
    o += 2 + buf.readUInt16BE(o + 2);
  }
  return 3;
}

/**
 * The image as `channels` planes-interleaved float values 0..255 (not rounded), at its own size.
 */
function toChannels(img: DecodedImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n * channels);
  const s = img.rgba;
  if (channels === 3) {
    for (let i = 0; i < n; i++) {
      out[i * 3] = s[i * 4];
      out[i * 3 + 1] = s[i * 4 + 1];
      out[i * 3 + 2] = s[i * 4 + 2];
    }
  } else if (img.grey) {
    for (let i = 0; i < n; i++) out[i] = s[i * 4];
  } else {
    for (let i = 0; i < n; i++) out[i] = 0.299 * s[i * 4] + 0.587 * s[i * 4 + 1] + 0.114 * s[i * 4 + 2];
  }
  return out;
}

/**
 * Bilinear resize with half-pixel centres of an [h, w, c] image to [oh, ow, c] (see the file comment),
 * rounded to the nearest integer and clamped to 0..255.
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, c: number, oh: number, ow: number, out = new Uint8Array(oh * ow * c)): Uint8Array {
  const ys = axis(h, oh);
  const xs = axis(w, ow);
  for (let y = 0; y < oh; y++) {
    const y0 = ys.i0[y], y1 = ys.i1[y], wy = ys.f[y];
    for (let x = 0; x < ow; x++) {
      const x0 = xs.i0[x], x1 = xs.i1[x], wx = xs.f[x];
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k], b = src[(y0 * w + x1) * c + k];
        const d = src[(y1 * w + x0) * c + k], e = src[(y1 * w + x1) * c + k];
        const top = a + (b - a) * wx;
        const bottom = d + (e - d) * wx;
        const v = Math.round(top + (bottom - top) * wy);
        out[(y * ow + x) * c + k] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

function axis(n: number, on: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(on), i1 = new Int32Array(on), f = new Float64Array(on);
  for (let o = 0; o < on; o++) {
    let s = (o + 0.5) * (n / on) - 0.5;
    if (s < 0) s = 0;
    if (s > n - 1) s = n - 1;
    const lo = Math.floor(s);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, n - 1);
    f[o] = s - lo;
  }
  return { i0, i1, f };
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

interface ImageFile { cls: number; className: string; rel: string; abs: string; /** -1 until stat'ed. */ size: number; mtimeMs: number }

/** The class folders and their image files, sorted; errors for a missing folder, no classes, an empty class. */
export function scanImageFolder(dir: string, field: string): { classes: string[]; files: ImageFile[][] } {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw dataError(code === 'ENOENT' ? 'folder not found' : code === 'ENOTDIR' ? 'expected a folder with one subfolder per class, found a file' : `cannot read the folder (${(e as Error).message})`, dir, `${field}.path`);
  }
  // Symbolic links count as what they point to (class folders linked in from elsewhere).
  const isDir = (e: fs.Dirent, parent: string) => e.isDirectory() || (e.isSymbolicLink() && statKind(path.join(parent, e.name)) === 'dir');
  const isFile = (e: fs.Dirent, parent: string) => e.isFile() || (e.isSymbolicLink() && statKind(path.join(parent, e.name)) === 'file');
  const classes = entries.filter((e) => isDir(e, dir) && !e.name.startsWith('.')).map((e) => e.name).sort(byCodePoint);
  if (classes.length === 0) {
    const images = entries.filter((e) => isFile(e, dir) && IMAGE_EXT.test(e.name)).length;
    throw dataError(`no class folders: expected one subfolder per class (e.g. ${path.join(dir, 'cat')}/…)` +
      (images ? `, found ${images} images directly in the folder` : ''), dir, `${field}.path`);
  }
  const files = classes.map((className, cls) => {
    const cdir = path.join(dir, className);
    const names = fs.readdirSync(cdir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.') && IMAGE_EXT.test(e.name) && isFile(e, cdir)).map((e) => e.name).sort(byCodePoint);
    if (names.length === 0) throw dataError(`class folder "${className}" has no PNG or JPEG images (.png, .jpg, .jpeg)`, cdir, `${field}.path`);
    return names.map((name) => ({ cls, className, rel: `${className}/${name}`, abs: path.join(cdir, name), size: -1, mtimeMs: -1 }));
  });
  return { classes, files };
}

function statKind(p: string): 'dir' | 'file' | undefined {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : undefined;
  } catch {
    return undefined; // a dangling link: skipped
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Round-robin over the classes: the i-th image of every class before the (i+1)-th of any. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

interface HashMemo { version: 1; files: Record<string, { size: number; mtimeMs: number; sha256: string }> }

/** Content hashes of `files`, remembered by size and mtime in `<cacheDir>/index-<folder hash>.json`. */
function contentHashes(files: ImageFile[], dir: string, cacheDir: string): string[] {
  const memoFile = path.join(cacheDir, `index-${sha256(path.resolve(dir)).slice(0, 16)}.json`);
  let memo: HashMemo = { version: 1, files: {} };
  try {
    const m = JSON.parse(fs.readFileSync(memoFile, 'utf8')) as HashMemo;
    if (m && m.version === 1 && m.files) memo = m;
  } catch { /* no memo yet */ }
  let changed = false;
  const out = files.map((f) => {
    const hit = memo.files[f.rel];
    if (hit && hit.size === f.size && hit.mtimeMs === f.mtimeMs) return hit.sha256;
    imageStats.filesRead++;
    const h = sha256(fs.readFileSync(f.abs));
    memo.files[f.rel] = { size: f.size, mtimeMs: f.mtimeMs, sha256: h };
    changed = true;
    return h;
  });
  if (changed) writeAtomic(memoFile, JSON.stringify(memo));
  return out;
}

function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** The header of a decoded cache entry (`<key>.json`, beside `<key>.u8`). */
export interface ImageCacheHeader {
  version: number;
  folder: string;
  shape: [number, number, number];
  size: number;
  classNames: string[];
  labels: number[];
  files: string[];
}

/** Decodes (or finds in the cache) an image folder; returns the cache entry's paths and header. */
export function decodeImageFolder(o: ImagesOptions): { header: ImageCacheHeader; pixels: string; cached: boolean; seconds: number } {
  const { field } = o;
  const t0 = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
  const scan = scanImageFolder(o.dir, field);
  let labelOf = (cls: number) => cls;
  let classNames = scan.classes;
  if (o.trainClasses) {
    const index = new Map(o.trainClasses.map((c, i) => [c, i]));
    const unknown = scan.classes.filter((c) => !index.has(c));
    if (unknown.length) {
      throw dataError(`class folder${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => JSON.stringify(c)).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not among the ` +
        `${o.trainClasses.length} training classes (${o.trainClasses.map((c) => JSON.stringify(c)).join(', ')}): the model has no output for it`, path.join(o.dir, unknown[0]), `${field}.path`);
    }
    labelOf = (cls) => index.get(scan.classes[cls])!;
    classNames = o.trainClasses;
  }
  const all = interleave(scan.files);
  const n = applyLimit(all.length, o.limit, field);
  const files = all.slice(0, n);
  for (const f of files) {
    // only the files used are looked at (a `limit` spares the rest)
    const st = fs.statSync(f.abs);
    f.size = st.size;
    f.mtimeMs = st.mtimeMs;
  }
  const cacheDir = path.join(o.cacheRoot, '.distill', 'cache', 'images');
  const hashes = contentHashes(files, o.dir, cacheDir);
  const key = sha256(JSON.stringify({
    v: CACHE_VERSION, size: o.size ?? null, channels: o.channels,
    files: files.map((f, i) => [labelOf(f.cls), f.rel, hashes[i]]),
  }));
  const headerFile = path.join(cacheDir, `${key}.json`);
  const pixels = path.join(cacheDir, `${key}.u8`);
  try {
    const header = JSON.parse(fs.readFileSync(headerFile, 'utf8')) as ImageCacheHeader;
    const [h, w, c] = header.shape;
    if (header.version === CACHE_VERSION && header.size === n && fs.statSync(pixels).size === n * h * w * c) {
      return { header: { ...header, folder: o.dir }, pixels, cached: true, seconds: seconds() };
    }
  } catch { /* not cached (or an incomplete entry): decode */ }

  // Decode every image into a temporary pixel file, then rename: an interrupted decode leaves no entry.
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${pixels}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'w');
  let shape: [number, number, number] | undefined;
  let first: ImageFile | undefined;
  let firstSize: [number, number] | undefined;
  try {
    let row: Uint8Array | undefined;
    for (const f of files) {
      imageStats.filesRead++;
      let buf: Buffer;
      try {
        buf = fs.readFileSync(f.abs);
      } catch (e) {
        throw dataError(`cannot read the image (${(e as Error).message})`, f.abs, `${field}.path`);
      }
      const img = decodeImage(buf, f.abs, `${field}.path`);
      if (!firstSize) {
        first = f;
        firstSize = [img.height, img.width];
      } else if (!o.size && (img.height !== firstSize[0] || img.width !== firstSize[1])) {
        throw dataError(`the images have different sizes — ${first!.rel} is ${firstSize[0]}×${firstSize[1]} (H×W), ${f.rel} is ` +
          `${img.height}×${img.width}: give "size": [H, W] to resize them all`, o.dir, `${field}.size`);
      }
      const [oh, ow] = o.size ?? firstSize;
      shape ??= [oh, ow, o.channels];
      row ??= new Uint8Array(oh * ow * o.channels);
      const chans = toChannels(img, o.channels);
      if (oh === img.height && ow === img.width) {
        for (let i = 0; i < chans.length; i++) row[i] = Math.round(chans[i]);
      } else {
        resizeBilinear(chans, img.height, img.width, o.channels, oh, ow, row);
      }
      fs.writeSync(fd, row);
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  const header: ImageCacheHeader = {
    version: CACHE_VERSION, folder: o.dir, shape: shape!, size: n, classNames,
    labels: files.map((f) => labelOf(f.cls)), files: files.map((f) => f.rel),
  };
  fs.renameSync(tmp, pixels);
  writeAtomic(headerFile, JSON.stringify(header));
  return { header, pixels, cached: false, seconds: seconds() };
}

/**
 * Loads an image folder as a Dataset: in memory when its float32 pixels fit in `memoryBytes`, else
 * streamed from the decoded cache (`x` empty, rows read through `stream`).
 */
export function loadImageFolder(o: ImagesOptions): Dataset {
  const { header, pixels, cached, seconds } = decodeImageFolder(o);
  const f = sampleSize(header.shape);
  const n = header.size;
  const rate = `${Math.round(n / Math.max(seconds, 1e-6))} images/s`;
  const note = `${o.field}: ${n} images of ${path.relative(o.cacheRoot, o.dir) || '.'} ` + (cached
    ? `found in the decode cache in ${seconds.toFixed(2)} s (${rate}; no image read)`
    : `decoded in ${seconds.toFixed(2)} s (${rate}) into .distill/cache/images`) +
    (n * f * 4 > o.memoryBytes ? `; ${((n * f * 4) / (1 << 20)).toFixed(0)} MB as float32 is more than data.memoryMB: streamed from the cache in batches` : '');
  const y = Int32Array.from(header.labels);
  const numClasses = header.classNames.length;
  const base = { name: path.basename(o.dir), y, shape: [...header.shape], size: n, numClasses, maxValue: 255, classNames: header.classNames, note };
  if (n * f * 4 <= o.memoryBytes) {
    const bytes = fs.readFileSync(pixels);
    const x = new Float32Array(n * f);
    for (let i = 0; i < x.length; i++) x[i] = bytes[i];
    return { ...base, x };
  }
  return { ...base, x: new Float32Array(0), stream: { rows: new DiskRows(pixels, n, f, o.memoryBytes) } };
}
