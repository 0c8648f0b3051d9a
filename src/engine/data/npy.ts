/**
 * NumPy arrays: `.npy` files (numpy.save) and `.npz` archives (numpy.savez / savez_compressed).
 *
 * `.npy` (format versions 1–3): the magic `\x93NUMPY`, a major and minor version byte, the header
 * length (uint16 little-endian in version 1, uint32 in 2 and 3), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (N, 28, 28), }` padded with spaces, then the
 * values. Read here: uint8, int8, uint16, int16, int32, int64, float32, float64 in either byte
 * order, C order only (Fortran order is refused: its values would be read transposed).
 *
 * `.npz` is a zip file of `<name>.npy` entries. The zip's central directory is read here (the
 * end-of-central-directory record, then one entry per file, with zip64 sizes when present); entries
 * are stored (method 0) or deflated (method 8, inflated by Node's zlib), and checked by CRC-32.
 */
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { readDataFile } from './files';
import { applyLimit, Dataset, dataError, sampleSize } from './types';

export type NpyDtype = 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'float32' | 'float64';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** Values in C order; int64 values are converted to numbers (exact up to 2^53). */
  data: Uint8Array | Int8Array | Uint16Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const KINDS: Record<string, { dtype: NpyDtype; bytes: number }> = {
  u1: { dtype: 'uint8', bytes: 1 },
  i1: { dtype: 'int8', bytes: 1 },
  b1: { dtype: 'uint8', bytes: 1 },
  u2: { dtype: 'uint16', bytes: 2 },
  i2: { dtype: 'int16', bytes: 2 },
  i4: { dtype: 'int32', bytes: 4 },
  i8: { dtype: 'int64', bytes: 8 },
  f4: { dtype: 'float32', bytes: 4 },
  f8: { dtype: 'float64', bytes: 8 },
};
const DESCR: Record<NpyDtype, string> = {
  uint8: '|u1', int8: '|i1', uint16: '<u2', int16: '<i2', int32: '<i4', int64: '<i8', float32: '<f4', float64: '<f8',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses a `.npy` buffer. `file`/`field` name the source in errors (for an npz entry: `archive.npz[x.npy]`). */
export function parseNpy(buf: Uint8Array, file?: string, field?: string): NpyArray {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) {
    const head = Array.from(buf.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw dataError(`not a .npy file: it starts with bytes ${head || '(none)'}, expected the magic 93 4e 55 4d 50 59 ("\\x93NUMPY")`, file, field);
  }
  const major = buf[6];
  if (major < 1 || major > 3) throw dataError(`.npy format version ${major}.${buf[7]} is not supported (1.0 to 3.0 are)`, file, field);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : buf.length >= 12 ? view.getUint32(8, true) : -1;
  const start = 8 + lenBytes + headerLen;
  if (headerLen < 0 || start > buf.length) {
    throw dataError(`file is ${buf.length} bytes, too short for its ${headerLen}-byte .npy header (which ends at byte ${start})`, file, field);
  }
  const header = Buffer.from(buf.buffer, buf.byteOffset + 8 + lenBytes, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw dataError(`cannot read the .npy header ${JSON.stringify(header.trim())}: expected 'descr', 'fortran_order' and 'shape'`, file, field);
  }
  const m = /^([<>|=])([a-z]\d+)$/.exec(descr);
  const kind = m ? KINDS[m[2]] : undefined;
  if (!m || !kind) {
    throw dataError(`unsupported array type '${descr}'; expected uint8, int8, uint16, int16, int32, int64, float32 or float64 ` +
      '(e.g. x.astype(np.float32) before numpy.save)', file, field);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw dataError(`cannot read the shape (${shapeText}) in the .npy header`, file, field);
  const count = sampleSize(shape);
  if (fortran === 'True' && shape.filter((d) => d > 1).length > 1) {
    throw dataError(`the array of shape (${shape.join(', ')}) is stored in Fortran (column-major) order; only C order is read ` +
      '(save np.ascontiguousarray(x) instead)', file, field);
  }
  const expected = start + count * kind.bytes;
  if (buf.length !== expected) {
    throw dataError(`file is ${buf.length} bytes, the .npy header promises ${expected} (${start}-byte header + ` +
      `${shape.join('×') || '1'} ${kind.dtype} values); the file is ${buf.length < expected ? 'truncated' : 'longer than its header says (corrupt)'}`,
    file, field);
  }
  const little = m[1] !== '>';
  const dtype = kind.dtype;
  let data: NpyArray['data'];
  if (dtype === 'uint8') data = new Uint8Array(buf.buffer, buf.byteOffset + start, count);
  else if (dtype === 'int8') data = new Int8Array(buf.buffer, buf.byteOffset + start, count);
  else if (dtype === 'int64') {
    const out = new Float64Array(count);
    for (let i = 0, o = start; i < count; i++, o += 8) {
      const v = view.getBigInt64(o, little);
      if (v > 9007199254740991n || v < -9007199254740991n) {
        throw dataError(`value ${i} (byte offset ${o}) is ${v}, beyond the integers a float64 holds exactly (±2^53)`, file, field);
      }
      out[i] = Number(v);
    }
    data = out;
  } else {
    const Ctor = { uint16: Uint16Array, int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[dtype];
    const get = {
      uint16: (o: number) => view.getUint16(o, little),
      int16: (o: number) => view.getInt16(o, little),
      int32: (o: number) => view.getInt32(o, little),
      float32: (o: number) => view.getFloat32(o, little),
      float64: (o: number) => view.getFloat64(o, little),
    }[dtype];
    const out = new Ctor(count);
    for (let i = 0, o = start; i < count; i++, o += kind.bytes) out[i] = get(o);
    data = out;
  }
  return { dtype, shape, data };
}

/** Encodes a `.npy` (version 1.0, little-endian, C order). Used by tests and example scripts. */
export function encodeNpy(shape: number[], values: ArrayLike<number>, dtype: NpyDtype, opts: { fortran?: boolean } = {}): Buffer {
  const count = sampleSize(shape);
  if (values.length !== count) throw new Error(`encodeNpy: ${values.length} values for shape ${shape.join('×')}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR[dtype]}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const bytes = KINDS[DESCR[dtype].slice(1)].bytes;
  const buf = Buffer.alloc(10 + header.length + count * bytes);
  MAGIC.forEach((b, i) => (buf[i] = b));
  buf[6] = 1;
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  for (let i = 0, o = 10 + header.length; i < count; i++, o += bytes) {
    const v = values[i];
    switch (dtype) {
      case 'uint8': buf.writeUInt8(v, o); break;
      case 'int8': buf.writeInt8(v, o); break;
      case 'uint16': buf.writeUInt16LE(v, o); break;
      case 'int16': buf.writeInt16LE(v, o); break;
      case 'int32': buf.writeInt32LE(v, o); break;
      case 'int64': buf.writeBigInt64LE(BigInt(v), o); break;
      case 'float32': buf.writeFloatLE(v, o); break;
      case 'float64': buf.writeDoubleLE(v, o); break;
    }
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// zip (npz)

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  /** Offset of the entry's local file header. */
  localOffset: number;
}

/** The entries of a zip file, from its central directory. */
export function zipEntries(buf: Buffer, file?: string, field?: string): ZipEntry[] {
  // The end-of-central-directory record: 22 bytes + a comment of up to 65535 bytes, at the end.
  let eocd = -1;
  for (let o = buf.length - 22; o >= Math.max(0, buf.length - 22 - 65535); o--) {
    if (buf.readUInt32LE(o) === 0x06054b50) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    throw dataError(`not a zip (.npz) file, or a truncated one: no end-of-central-directory record in its last ${Math.min(buf.length, 22 + 65535)} bytes`, file, field);
  }
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if ((cdOffset === 0xffffffff || count === 0xffff) && eocd >= 20 && buf.readUInt32LE(eocd - 20) === 0x07064b50) {
    const z64 = Number(buf.readBigUInt64LE(eocd - 20 + 8));
    if (z64 + 56 > buf.length || buf.readUInt32LE(z64) !== 0x06064b50) throw dataError(`the zip64 end record at byte offset ${z64} is missing or corrupt`, file, field);
    count = Number(buf.readBigUInt64LE(z64 + 32));
    cdSize = Number(buf.readBigUInt64LE(z64 + 40));
    cdOffset = Number(buf.readBigUInt64LE(z64 + 48));
  }
  if (cdOffset + cdSize > buf.length) {
    throw dataError(`the zip central directory (byte offsets ${cdOffset}–${cdOffset + cdSize}) lies beyond the file's ${buf.length} bytes: truncated or corrupt`, file, field);
  }
  const out: ZipEntry[] = [];
  for (let i = 0, o = cdOffset; i < count; i++) {
    if (o + 46 > buf.length || buf.readUInt32LE(o) !== 0x02014b50) throw dataError(`zip central directory entry ${i} at byte offset ${o} is corrupt`, file, field);
    const method = buf.readUInt16LE(o + 10);
    const crc = buf.readUInt32LE(o + 16);
    let compressedSize = buf.readUInt32LE(o + 20);
    let size = buf.readUInt32LE(o + 24);
    const nameLen = buf.readUInt16LE(o + 28);
    const extraLen = buf.readUInt16LE(o + 30);
    const commentLen = buf.readUInt16LE(o + 32);
    let localOffset = buf.readUInt32LE(o + 42);
    const name = buf.toString('utf8', o + 46, o + 46 + nameLen);
    // zip64 extended information: the 8-byte values of the fields that are 0xffffffff, in order.
    for (let e = o + 46 + nameLen; e + 4 <= o + 46 + nameLen + extraLen; ) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let p = e + 4;
        if (size === 0xffffffff) { size = Number(buf.readBigUInt64LE(p)); p += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(buf.readBigUInt64LE(p)); p += 8; }
        if (localOffset === 0xffffffff) { localOffset = Number(buf.readBigUInt64LE(p)); p += 8; }
      }
      e += 4 + len;
    }
    out.push({ name, method, compressedSize, size, crc, localOffset });
    o += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The uncompressed bytes of one zip entry (stored or deflated), checked against its size and CRC-32. */
export function zipEntryData(buf: Buffer, entry: ZipEntry, file?: string, field?: string): Buffer {
  const where = `${file ?? 'archive'}[${entry.name}]`;
  const o = entry.localOffset;
  if (o + 30 > buf.length || buf.readUInt32LE(o) !== 0x04034b50) throw dataError(`the local header of entry ${entry.name} at byte offset ${o} is missing or corrupt`, file, field);
  const start = o + 30 + buf.readUInt16LE(o + 26) + buf.readUInt16LE(o + 28);
  if (start + entry.compressedSize > buf.length) {
    throw dataError(`entry ${entry.name} (byte offsets ${start}–${start + entry.compressedSize}) lies beyond the file's ${buf.length} bytes: the file is truncated`, file, field);
  }
  const raw = buf.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) {
    try {
      data = zlib.inflateRawSync(raw);
    } catch (e) {
      throw dataError(`entry ${entry.name} cannot be inflated (${(e as Error).message}): corrupt`, file, field);
    }
  } else {
    throw dataError(`entry ${entry.name} uses zip compression method ${entry.method}; only stored (0) and deflate (8) are read ` +
      '(numpy.savez and savez_compressed write those)', file, field);
  }
  if (data.length !== entry.size) throw dataError(`${where}: ${data.length} bytes after decompression, the zip directory says ${entry.size}: corrupt`, file, field);
  const crc = crc32(data);
  if (crc !== entry.crc) throw dataError(`entry ${entry.name} fails its CRC-32 check (0x${crc.toString(16)} ≠ 0x${entry.crc.toString(16)}): corrupt`, file, field);
  return data;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the zip / PNG polynomial 0xEDB88320). */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Encodes an `.npz` (a zip of `<name>.npy` entries, deflated when `compress`). Used by tests and example scripts. */
export function encodeNpz(arrays: Record<string, Buffer>, opts: { compress?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [key, npy] of Object.entries(arrays)) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const body = opts.compress ? zlib.deflateRawSync(npy) : npy;
    const crc = crc32(npy);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(opts.compress ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(npy.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(opts.compress ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(npy.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(arrays).length, 8);
  end.writeUInt16LE(Object.keys(arrays).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** The named arrays of an `.npz` file (entries `<name>.npy`), parsed. */
export function readNpz(file: string, field: string, names?: string[]): Map<string, NpyArray> {
  const buf = readDataFile(file, field);
  const out = new Map<string, NpyArray>();
  for (const e of zipEntries(buf, file, field)) {
    if (!e.name.endsWith('.npy')) continue;
    const name = e.name.slice(0, -4);
    if (names && !names.includes(name)) continue;
    out.set(name, parseNpy(zipEntryData(buf, e, file, field), `${file}[${e.name}]`, field));
  }
  return out;
}

/** The names of the arrays in an `.npz` file, for messages. */
function npzNames(file: string, field: string): string[] {
  return zipEntries(readDataFile(file, field), file, field).filter((e) => e.name.endsWith('.npy')).map((e) => e.name.slice(0, -4));
}

// ---------------------------------------------------------------------------------------------
// datasets

/** Turns an inputs array and a labels array into a Dataset (`[N, H, W]` gets a channel axis). */
export function npyDataset(inputs: NpyArray, labels: NpyArray, o: {
  name: string; field: string; inputsFile: string; labelsFile: string; inputsField: string; labelsField: string; limit?: number;
}): Dataset {
  if (labels.shape.length !== 1 && !(labels.shape.length === 2 && labels.shape[1] === 1)) {
    throw dataError(`expected a 1-D labels array [N], found shape (${labels.shape.join(', ')})`, o.labelsFile, o.labelsField);
  }
  if (labels.dtype === 'float32' || labels.dtype === 'float64') {
    throw dataError(`expected integer labels, found ${labels.dtype} values (save y.astype(np.int64))`, o.labelsFile, o.labelsField);
  }
  if (inputs.shape.length < 2) {
    throw dataError(`expected an inputs array [N, …] with at least 2 dimensions, found shape (${inputs.shape.join(', ')})`, o.inputsFile, o.inputsField);
  }
  const available = inputs.shape[0];
  if (labels.shape[0] !== available) {
    throw dataError(`the labels array has ${labels.shape[0]} labels but the inputs array ${o.inputsFile} has ${available} samples`, o.labelsFile, o.labelsField);
  }
  const n = applyLimit(available, o.limit, o.field);
  const item = inputs.shape.slice(1);
  const shape = item.length === 2 ? [...item, 1] : item;
  const f = sampleSize(item);
  const x = new Float32Array(n * f);
  let maxValue = 0;
  for (let i = 0; i < x.length; i++) {
    const v = inputs.data[i];
    if (!Number.isFinite(v)) throw dataError(`value ${i} (sample ${Math.floor(i / f)}) is ${v}; inputs must be finite`, o.inputsFile, o.inputsField);
    x[i] = v;
    const a = v < 0 ? -v : v;
    if (a > maxValue) maxValue = a;
  }
  if (inputs.dtype === 'uint8') maxValue = 255;
  if (!(maxValue > 0)) maxValue = 1;
  const y = new Int32Array(n);
  let maxLabel = -1;
  for (let i = 0; i < n; i++) {
    const v = labels.data[i];
    if (v < 0 || v > 2 ** 31 - 1) throw dataError(`label ${i} is ${v}; labels must be integers ≥ 0`, o.labelsFile, o.labelsField);
    y[i] = v;
    if (v > maxLabel) maxLabel = v;
  }
  return { name: o.name, x, y, shape, size: n, numClasses: maxLabel + 1, maxValue };
}

/** Two `.npy` files: inputs and labels. */
export function loadNpyPair(inputsFile: string, labelsFile: string, opts: { field: string; limit?: number }): Dataset {
  const inputsField = `${opts.field}.inputs`;
  const labelsField = `${opts.field}.labels`;
  const labels = parseNpy(readDataFile(labelsFile, labelsField), labelsFile, labelsField);
  const inputs = parseNpy(readDataFile(inputsFile, inputsField), inputsFile, inputsField);
  return npyDataset(inputs, labels, {
    name: path.basename(inputsFile), field: opts.field, inputsFile, labelsFile, inputsField, labelsField, limit: opts.limit,
  });
}

/** An `.npz` archive with the arrays `inputs` and `labels` (by name). */
export function loadNpz(file: string, opts: { field: string; inputs: string; labels: string; limit?: number }): Dataset {
  const arrays = readNpz(file, `${opts.field}.path`, [opts.inputs, opts.labels]);
  for (const key of ['inputs', 'labels'] as const) {
    if (!arrays.has(opts[key])) {
      const names = npzNames(file, `${opts.field}.path`);
      throw dataError(`the archive has no array named ${JSON.stringify(opts[key])}; it holds ${names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'no .npy arrays'}`,
        file, `${opts.field}.${key}`);
    }
  }
  return npyDataset(arrays.get(opts.inputs)!, arrays.get(opts.labels)!, {
    name: `${path.basename(file)}[${opts.inputs}]`, field: opts.field, inputsFile: `${file}[${opts.inputs}.npy]`, labelsFile: `${file}[${opts.labels}.npy]`,
    inputsField: `${opts.field}.inputs`, labelsField: `${opts.field}.labels`, limit: opts.limit,
  });
}
