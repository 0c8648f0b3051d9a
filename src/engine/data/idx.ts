/**
 * The IDX format of MNIST / Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * `00 00 <dtype> <ndims>`, `ndims` big-endian uint32 dimensions, then the values, big-endian,
 * row-major. dtype: 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
 * Files may be gzipped (detected by content).
 */
import * as zlib from 'node:zlib';
import { readDataFile } from './files';
import { applyLimit, Dataset, dataError, sampleSize } from './types';

export const IDX_DTYPES = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'sbyte', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;
export type IdxDtype = keyof typeof IDX_DTYPES;

export interface IdxArray {
  dtype: IdxDtype;
  /** All dimensions, the first being the number of items. */
  dims: number[];
  /** Values in file order. Byte data is a view on the file buffer (no copy). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const hex = (n: number, width = 2) => '0x' + n.toString(16).padStart(width, '0');

/** Parses an IDX buffer (already gunzipped). `file`/`field` only name the source in errors. */
export function parseIdx(buf: Uint8Array, file?: string, field?: string): IdxArray {
  if (buf.length < 4) {
    throw dataError(`file is ${buf.length} bytes, too short for an IDX header (at least 4 bytes)`, file, field);
  }
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw dataError(
      `not an IDX file: it starts with bytes ${hex(buf[0])} ${hex(buf[1])}, expected the IDX magic 0x00 0x00 <dtype> <ndims>`,
      file,
      field,
    );
  }
  const dtypeByte = buf[2];
  const dt = (IDX_DTYPES as Record<number, { name: string; bytes: number }>)[dtypeByte];
  if (!dt) {
    throw dataError(
      `unknown IDX data type byte ${hex(dtypeByte)} (magic ${hex((buf[2] << 8) | buf[3], 8)}); expected one of ` +
        '0x08 ubyte, 0x09 sbyte, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64',
      file,
      field,
    );
  }
  const ndims = buf[3];
  if (ndims === 0) throw dataError('IDX header declares 0 dimensions, expected at least 1', file, field);
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw dataError(
      `file is ${buf.length} bytes, too short for the IDX header of ${ndims} dimensions (${headerBytes} bytes)`,
      file,
      field,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = sampleSize(dims);
  const expected = headerBytes + count * dt.bytes;
  if (buf.length !== expected) {
    throw dataError(
      `file is ${buf.length} bytes, header promises ${expected} ` +
        `(${headerBytes}-byte header + ${dims.join('×')} ${dt.name} values); the file is ` +
        (buf.length < expected ? 'truncated' : 'longer than its header says (corrupt)'),
      file,
      field,
    );
  }
  const start = buf.byteOffset + headerBytes;
  const dtype = dtypeByte as IdxDtype;
  let data: IdxArray['data'];
  switch (dtype) {
    case 0x08:
      data = new Uint8Array(buf.buffer, start, count);
      break;
    case 0x09:
      data = new Int8Array(buf.buffer, start, count);
      break;
    default: {
      // Multi-byte values are big-endian: decode through a DataView.
      const Ctor = { 0x0b: Int16Array, 0x0c: Int32Array, 0x0d: Float32Array, 0x0e: Float64Array }[dtype];
      const out = new Ctor(count);
      const get = {
        0x0b: (o: number) => view.getInt16(o, false),
        0x0c: (o: number) => view.getInt32(o, false),
        0x0d: (o: number) => view.getFloat32(o, false),
        0x0e: (o: number) => view.getFloat64(o, false),
      }[dtype];
      for (let i = 0, o = headerBytes; i < count; i++, o += dt.bytes) out[i] = get(o);
      data = out;
    }
  }
  return { dtype, dims, data };
}

/** Reads an IDX file, raw or gzipped. */
export function readIdx(file: string, field?: string): IdxArray {
  return parseIdx(readDataFile(file, field ?? ''), file, field);
}

/** Encodes an IDX file (big-endian), optionally gzipped. Used by tests and fixtures. */
export function encodeIdx(
  dims: number[],
  values: ArrayLike<number>,
  opts: { dtype?: IdxDtype; gzip?: boolean } = {},
): Buffer {
  const dtype = opts.dtype ?? 0x08;
  const dt = IDX_DTYPES[dtype];
  const count = sampleSize(dims);
  if (values.length !== count) throw new Error(`encodeIdx: ${values.length} values for dims ${dims.join('×')}`);
  const headerBytes = 4 + 4 * dims.length;
  const buf = Buffer.alloc(headerBytes + count * dt.bytes);
  buf[2] = dtype;
  buf[3] = dims.length;
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  for (let i = 0, o = headerBytes; i < count; i++, o += dt.bytes) {
    const v = values[i];
    switch (dtype) {
      case 0x08: buf.writeUInt8(v, o); break;
      case 0x09: buf.writeInt8(v, o); break;
      case 0x0b: buf.writeInt16BE(v, o); break;
      case 0x0c: buf.writeInt32BE(v, o); break;
      case 0x0d: buf.writeFloatBE(v, o); break;
      case 0x0e: buf.writeDoubleBE(v, o); break;
    }
  }
  return opts.gzip ? zlib.gzipSync(buf) : buf;
}

/**
 * Loads an image file + label file pair as a `Dataset`. Images with 2-D items (H×W) get a channel
 * axis, `[H, W, 1]`. `limit` keeps the first N samples. `field` is e.g. `data.train`.
 */
export function loadIdxPair(
  imagesFile: string,
  labelsFile: string,
  opts: { field: string; name: string; limit?: number },
): Dataset {
  const { field } = opts;
  const imgField = `${field}.images`;
  const lblField = `${field}.labels`;

  const labels = readIdx(labelsFile, lblField);
  if (labels.dims.length !== 1) {
    throw dataError(`expected a 1-D IDX label file, found dimensions ${labels.dims.join('×')}`, labelsFile, lblField);
  }
  if (labels.dtype === 0x0d || labels.dtype === 0x0e) {
    throw dataError(`expected integer labels, found ${IDX_DTYPES[labels.dtype].name} values`, labelsFile, lblField);
  }
  const images = readIdx(imagesFile, imgField);
  if (images.dims.length < 2) {
    throw dataError(
      `expected an IDX image file with at least 2 dimensions (count × features), found ${images.dims.join('×')}`,
      imagesFile,
      imgField,
    );
  }
  const available = images.dims[0];
  if (labels.dims[0] !== available) {
    throw dataError(
      `label file has ${labels.dims[0]} labels but the image file ${imagesFile} has ${available} images`,
      labelsFile,
      lblField,
    );
  }
  const n = applyLimit(available, opts.limit, field);
  const itemDims = images.dims.slice(1);
  const shape = itemDims.length === 2 ? [...itemDims, 1] : itemDims;
  const f = sampleSize(itemDims);

  const x = new Float32Array(n * f);
  const src = images.data;
  let maxValue = 0;
  if (images.dtype === 0x08) {
    for (let i = 0; i < x.length; i++) x[i] = src[i];
    maxValue = 255;
  } else {
    for (let i = 0; i < x.length; i++) {
      const v = src[i];
      x[i] = v;
      const a = v < 0 ? -v : v;
      if (a > maxValue) maxValue = a;
    }
    if (!(maxValue > 0) || !Number.isFinite(maxValue)) maxValue = 1;
  }
  const y = new Int32Array(n);
  let maxLabel = -1;
  for (let i = 0; i < n; i++) {
    const v = labels.data[i];
    if (v < 0) {
      throw dataError(`label ${i} is ${v}; labels must be non-negative integers`, labelsFile, lblField);
    }
    y[i] = v;
    if (v > maxLabel) maxLabel = v;
  }
  return { name: opts.name, x, y, shape, size: n, numClasses: maxLabel + 1, maxValue };
}
