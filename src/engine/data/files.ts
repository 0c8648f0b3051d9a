/** Reading data files: existence checks and transparent gzip (detected by the 1f 8b magic, not the name). */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { dataError } from './types';

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a whole file, gunzipping it when it starts with the gzip magic. Errors are `DataError`s naming `field` and `file`. */
export function readDataFile(file: string, field: string): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw dataError('file not found', file, field);
    if (code === 'EISDIR') throw dataError('expected a file, found a directory', file, field);
    throw dataError(`cannot read file (${(e as Error).message})`, file, field);
  }
  if (!isGzip(raw)) return raw;
  try {
    return zlib.gunzipSync(raw);
  } catch (e) {
    throw dataError(
      `file is ${raw.length} bytes of gzip data that cannot be decompressed (${(e as Error).message}); ` +
        'the file is truncated or corrupt',
      file,
      field,
    );
  }
}
