/**
 * A pre-trained teacher's outputs (logits over every split) kept on disk, beside the runs:
 * `<runs folder>/.cache/teacher-outputs/<key>.f32` + `<key>.json`. A later run with the same
 * teacher and the same data — any experiment, any student, any seed — reads them instead of
 * running the teacher over the dataset again.
 *
 * The key is a hash of what the outputs depend on: the teacher's files by content (model.json and
 * every weight file it lists), the experiment's data section, a fingerprint of the prepared inputs
 * and labels (so a changed file or normalisation never matches), the input shape and the backend.
 * Files are written once (a complete temporary file linked into place, never over an existing one)
 * and only read back when the header and the size agree; anything else is ignored and recomputed.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { PreparedData } from '../data';
import { rowsOf as splitRows, sampleSize, streamChunk } from '../data';
import type { TeacherLogits } from './teacherCache';

const FORMAT = 1;

export interface TeacherOutputsHeader {
  format: number;
  key: string;
  teacher: string;
  backend: string;
  classes: number;
  rows: { train: number; validation: number; test: number };
  createdAt: string;
  run: string;
}

/** The folder of the cached outputs for a run folder (`<runs>/<experiment>/<id>`). */
export function teacherOutputsDir(runDir: string): string {
  return path.join(path.dirname(path.dirname(runDir)), '.cache', 'teacher-outputs');
}

/** sha256 of model.json and of every weight file its manifest lists; undefined if one is unreadable. */
export function teacherFilesHash(modelJson: string): string | undefined {
  try {
    const text = fs.readFileSync(modelJson);
    const h = crypto.createHash('sha256').update(text);
    const manifest = (JSON.parse(text.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest ?? [];
    for (const group of manifest) {
      for (const p of group.paths ?? []) {
        h.update(`\0${p}\0`);
        h.update(fs.readFileSync(path.resolve(path.dirname(modelJson), p)));
      }
    }
    return h.digest('hex');
  } catch {
    return undefined;
  }
}

/** A fingerprint of the prepared splits: sizes, every label, and every 7th input value. */
export function dataFingerprint(d: PreparedData): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify([d.shape, d.numClasses]));
  for (const s of [d.train, d.validation, d.test]) {
    if (!s) {
      h.update('-');
      continue;
    }
    h.update(`${s.size}:`);
    h.update(new Uint8Array(s.y.buffer, s.y.byteOffset, s.y.byteLength));
    // every 7th value, 64 Ki values at a time
    const chunk = new Float32Array(1 << 16);
    let k = 0;
    if (s.stream) {
      // A split streamed from disk: the same values, read a bounded number of rows at a time.
      const f = sampleSize(s.shape);
      const step = streamChunk(s, 4096);
      for (let start = 0; start < s.size; start += step) {
        const rows = splitRows(s, start, Math.min(step, s.size - start));
        for (let j = (7 - ((start * f) % 7)) % 7; j < rows.length; j += 7) {
          chunk[k++] = rows[j];
          if (k === chunk.length) {
            h.update(new Uint8Array(chunk.buffer));
            k = 0;
          }
        }
      }
    }
    for (let i = 0; i < s.x.length; i += 7) {
      chunk[k++] = s.x[i];
      if (k === chunk.length) {
        h.update(new Uint8Array(chunk.buffer));
        k = 0;
      }
    }
    h.update(new Uint8Array(chunk.buffer, 0, k * 4));
  }
  return h.digest('hex');
}

export function teacherOutputsKey(parts: { teacherHash: string; data: unknown; fingerprint: string; inputShape: number[]; backend: string }): string {
  return crypto.createHash('sha256').update(JSON.stringify([FORMAT, parts])).digest('hex').slice(0, 24);
}

function rowsOf(l: Pick<TeacherLogits, 'train' | 'validation' | 'test'>, classes: number): TeacherOutputsHeader['rows'] {
  return { train: l.train.length / classes, validation: (l.validation?.length ?? 0) / classes, test: l.test.length / classes };
}

/**
 * The cached outputs for `key`, when both files are there and agree with the expected rows and
 * classes; otherwise undefined with the reason (absent: undefined reason).
 */
export function readTeacherOutputs(dir: string, key: string, expect: { classes: number; rows: TeacherOutputsHeader['rows'] }):
  { logits?: TeacherLogits; header?: TeacherOutputsHeader; problem?: string } {
  const headerFile = path.join(dir, `${key}.json`);
  const dataFile = path.join(dir, `${key}.f32`);
  if (!fs.existsSync(headerFile) || !fs.existsSync(dataFile)) return {};
  let header: TeacherOutputsHeader;
  try {
    header = JSON.parse(fs.readFileSync(headerFile, 'utf8')) as TeacherOutputsHeader;
  } catch (e) {
    return { problem: `${headerFile}: unreadable (${(e as Error).message})` };
  }
  const { rows, classes } = expect;
  if (header.format !== FORMAT || header.key !== key || header.classes !== classes ||
    header.rows?.train !== rows.train || header.rows?.validation !== rows.validation || header.rows?.test !== rows.test) {
    return { problem: `${headerFile}: expected format ${FORMAT}, ${classes} classes and rows ${JSON.stringify(rows)}, found ` +
      `format ${header.format}, ${header.classes} classes, rows ${JSON.stringify(header.rows)}` };
  }
  const total = (rows.train + rows.validation + rows.test) * classes;
  const bytes = fs.readFileSync(dataFile);
  if (bytes.length !== total * 4) return { problem: `${dataFile}: expected ${total * 4} bytes, found ${bytes.length}` };
  const all = new Float32Array(total);
  new Uint8Array(all.buffer).set(bytes);
  const train = all.subarray(0, rows.train * classes);
  const validation = rows.validation ? all.subarray(rows.train * classes, (rows.train + rows.validation) * classes) : undefined;
  const test = all.subarray((rows.train + rows.validation) * classes);
  return { logits: { train, validation, test }, header };
}

/** Writes `target` from a complete temporary file, never over an existing one; false if it existed. */
function writeOnce(target: string, bytes: Uint8Array): boolean {
  const tmp = `${target}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.writeFileSync(tmp, bytes); // inside the try: a full disk leaves no partial temporary file
    fs.linkSync(tmp, target);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Saves complete outputs under `key` (the data file first, then the header that makes it
 * readable). Returns the header file, or undefined when the entry already existed.
 */
export function writeTeacherOutputs(dir: string, key: string, logits: TeacherLogits, classes: number, meta: { teacher: string; backend: string; run: string }): string | undefined {
  if (logits.trainMissing) throw new Error('internal: teacher outputs saved before the training split is complete');
  const headerFile = path.join(dir, `${key}.json`);
  if (fs.existsSync(headerFile)) return undefined; // already there (a run of this process may have read or saved it)
  fs.mkdirSync(dir, { recursive: true });
  const rows = rowsOf(logits, classes);
  const all = new Float32Array((rows.train + rows.validation + rows.test) * classes);
  all.set(logits.train, 0);
  if (logits.validation) all.set(logits.validation, logits.train.length);
  all.set(logits.test, logits.train.length + (logits.validation?.length ?? 0));
  writeOnce(path.join(dir, `${key}.f32`), new Uint8Array(all.buffer));
  const header: TeacherOutputsHeader = { format: FORMAT, key, ...meta, classes, rows, createdAt: new Date().toISOString() };
  return writeOnce(headerFile, Buffer.from(JSON.stringify(header, null, 2))) ? headerFile : undefined;
}
