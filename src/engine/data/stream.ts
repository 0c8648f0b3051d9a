/**
 * Streaming a split from its decoded cache file on disk: rows of `features` uint8 values, read
 * by `fs.readSync` into one reusable buffer whose size is bounded by the memory setting
 * (`data.memoryMB`), never by the dataset's size. Contiguous rows are read in one call; scattered
 * rows (a shuffled batch) one call per run of consecutive rows.
 */
import * as fs from 'node:fs';
import type { RowReader } from './types';
import { dataError } from './types';

/** What the readers hold, for tests and logs: bytes of read buffers now, and at most. */
export const streamStats = { residentBytes: 0, peakBytes: 0, rowsRead: 0 };

/** A reader that is dropped without `close` (its splits are no longer used) closes its file then. */
const closeOnCollect = new FinalizationRegistry<{ fd: number; bytes: number }>((held) => {
  try {
    fs.closeSync(held.fd);
  } catch { /* already closed */ }
  streamStats.residentBytes -= held.bytes;
});

export class DiskRows implements RowReader {
  private fd: number | undefined;
  private buf: Buffer | undefined;
  /** Bytes of the read buffer: at most `maxBytes`, at least one row. */
  private readonly bufBytes: number;

  readonly maxRows: number;

  constructor(readonly file: string, readonly size: number, readonly features: number, maxBytes: number) {
    // Half the bound for the float32 rows of a pass (evaluation, teacher features), a quarter for the read buffer.
    this.maxRows = Math.max(1, Math.floor(maxBytes / 2 / (4 * features)));
    // The float32 batch the caller receives is 4× the bytes read; keep the buffer a quarter of the bound.
    this.bufBytes = Math.max(features, Math.min(size * features, Math.floor(maxBytes / 4 / features) * features));
  }

  private open(): number {
    if (this.fd === undefined) {
      try {
        this.fd = fs.openSync(this.file, 'r');
      } catch (e) {
        throw dataError(`cannot open the decoded image cache (${(e as Error).message}); delete .distill/cache/images to decode again`, this.file);
      }
      this.buf = Buffer.allocUnsafe(this.bufBytes);
      closeOnCollect.register(this, { fd: this.fd, bytes: this.bufBytes }, this);
      streamStats.residentBytes += this.bufBytes;
      streamStats.peakBytes = Math.max(streamStats.peakBytes, streamStats.residentBytes);
    }
    return this.fd;
  }

  read(rows: ArrayLike<number>, out: Float32Array, dest?: ArrayLike<number>): void {
    const fd = this.open();
    const buf = this.buf!;
    const f = this.features;
    const perBuf = Math.floor(this.bufBytes / f);
    for (let k = 0; k < rows.length; ) {
      // a run of consecutive rows, as long as the buffer holds
      let m = 1;
      while (k + m < rows.length && m < perBuf && rows[k + m] === rows[k] + m) m++;
      const r = rows[k];
      if (!(r >= 0 && r < this.size)) throw new RangeError(`DiskRows: row ${r} out of range 0..${this.size - 1}`);
      const want = m * f;
      const got = fs.readSync(fd, buf, 0, want, r * f);
      if (got !== want) throw dataError(`the decoded image cache ends early (row ${r + Math.floor(got / f)} of ${this.size}); delete it to decode again`, this.file);
      for (let q = 0; q < m; q++) {
        const o = (dest ? dest[k + q] : k + q) * f;
        for (let i = 0; i < f; i++) out[o + i] = buf[q * f + i];
      }
      streamStats.rowsRead += m;
      k += m;
    }
  }

  /** Closes the file and releases the buffer. */
  close(): void {
    if (this.fd !== undefined) {
      closeOnCollect.unregister(this);
      fs.closeSync(this.fd);
      this.fd = undefined;
      this.buf = undefined;
      streamStats.residentBytes -= this.bufBytes;
    }
  }
}
