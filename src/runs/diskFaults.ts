/**
 * Disk and permission faults (ENOSPC, EDQUOT, EACCES, EPERM, EROFS) while a run writes its files:
 * the writers note which file and how many bytes (`noteWrite`), a run that meets one ends `failed`
 * with "disk full while writing <file> (needed ≈ N MB, free M MB)" — its temporary files and folders
 * removed first, so the last complete checkpoint stays and `resume` continues once space is freed —
 * and before a run starts, `estimateRunBytes` + `freeBytes` warn when the disk looks too small.
 */
import * as fs from 'fs';
import * as path from 'path';

const CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS']);

/** What a writer was writing when it failed. */
export interface WriteNote {
  file: string;
  /** Bytes the write needed (the whole file or folder), when known. */
  bytes?: number;
}

type Noted = NodeJS.ErrnoException & { distillWrite?: WriteNote };

/** A fault of the disk or of permissions, not of the run's own logic. */
export function isDiskFault(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && CODES.has((e as NodeJS.ErrnoException).code!);
}

/** Records on a disk fault which file was being written (the innermost writer wins); returns `e`. */
export function noteWrite<E>(e: E, file: string, bytes?: number): E {
  if (isDiskFault(e) && !(e as Noted).distillWrite) (e as Noted).distillWrite = { file, ...(bytes !== undefined ? { bytes } : {}) };
  return e;
}

/** Runs a write, noting `file` and `bytes` on a disk fault. */
export function guardWrite<T>(file: string, bytes: number | undefined, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw noteWrite(e, file, bytes);
  }
}

/** Bytes free for an unprivileged writer on the file system holding `p` (its nearest existing ancestor). */
export function freeBytes(p: string): number | undefined {
  let dir = path.resolve(p);
  while (!fs.existsSync(dir)) {
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  try {
    const s = fs.statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** `0.27` / `3.4` / `125` — megabytes, with the precision a size of that order deserves. */
export function mb(bytes: number): string {
  const v = bytes / (1 << 20);
  if (v > 0 && v < 0.01) return '0.01'; // a few bytes still need room: never "needed ≈ 0.00 MB"
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** What to do about a fault before resuming. */
export function diskFaultRemedy(e: NodeJS.ErrnoException): string {
  return e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'free some space' : e.code === 'EROFS' ? 'make the file system writable' : 'fix the permissions';
}

/** The file of a fault, relative to `root` when inside it. */
function faultFile(e: NodeJS.ErrnoException, root?: string): string {
  const file = (e as Noted).distillWrite?.file ?? e.path ?? 'a file';
  if (!root || file === 'a file') return file;
  const rel = path.relative(root, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * "disk full while writing checkpoints/distill-s1/epoch-0002 (needed ≈ 1.20 MB, free 0.05 MB)",
 * "permission denied while writing …", "read-only file system while writing …".
 */
export function diskFaultMessage(e: NodeJS.ErrnoException, root?: string): string {
  const note = (e as Noted).distillWrite;
  const file = faultFile(e, root);
  const where = note?.file ?? e.path ?? root;
  switch (e.code) {
    case 'ENOSPC': case 'EDQUOT': {
      const free = where ? freeBytes(where) : undefined;
      const figures = [note?.bytes !== undefined ? `needed ≈ ${mb(note.bytes)} MB` : undefined, free !== undefined ? `free ${mb(free)} MB` : undefined]
        .filter(Boolean).join(', ');
      return `${e.code === 'EDQUOT' ? 'disk quota exceeded' : 'disk full'} while writing ${file}${figures ? ` (${figures})` : ''}`;
    }
    case 'EROFS': return `read-only file system while writing ${file}`;
    default: return `permission denied while writing ${file} (${e.code})`;
  }
}

/** Removes a file or folder; false when it cannot (a read-only file system): cleaning up never hides the fault itself. */
export function removeQuietly(p: string): boolean {
  try {
    fs.rmSync(p, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/** A disk fault met outside a run's training (creating the folder, taking it over): said, nothing left half-written. */
export class DiskFaultError extends Error {
  constructor(message: string, public readonly code: string) {
    super(message);
    this.name = 'DiskFaultError';
  }
}

/**
 * Removes the temporary files and folders of interrupted writes under a run folder
 * (`run.json.tmp-<pid>`, `.tmp-*` folders of checkpoints, models and the export); returns them,
 * relative. Only the lock's owner calls this, so no other process is writing them.
 */
export function removeTempFiles(runDir: string): string[] {
  const removed: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      return;
    }
    for (const ent of entries) {
      const p = path.join(dir, ent.name);
      if (ent.name.startsWith('.tmp-') || /\.tmp-\d+(-[0-9a-f]+)?$/.test(ent.name)) {
        if (removeQuietly(p)) removed.push(path.relative(runDir, p));
      } else if (ent.isDirectory() && depth < 4) {
        walk(p, depth + 1);
      }
    }
  };
  walk(runDir, 0);
  return removed;
}

export interface RunSizeEstimate {
  bytes: number;
  /** What it is made of, for the warning. */
  parts: string[];
}

/**
 * The disk a run needs, roughly: each job keeps a checkpoint per epoch (weights and the optimizer's
 * slots) and its final model; the exported student and its int8 copy; a pre-trained teacher's
 * outputs on disk; metrics lines.
 */
export function estimateRunBytes(o: {
  jobs: { model: string; epochs: number; optimizer: string }[];
  params: Record<string, number>;
  studentParams: number;
  teacherOutputs: number;
  steps: number;
}): RunSizeEstimate {
  const slots = (opt: string) => (opt === 'adam' ? 2 : opt === 'rmsprop' || opt === 'momentum' ? 1 : 0);
  let checkpoints = 0;
  let models = 0;
  for (const j of o.jobs) {
    const w = (o.params[j.model] ?? o.studentParams) * 4;
    checkpoints += j.epochs * w * (1 + slots(j.optimizer));
    models += w;
  }
  const exported = o.studentParams * 4 * 1.3;
  const metrics = o.steps * 300;
  const parts = [`checkpoints ≈ ${mb(checkpoints)} MB`, `final models ≈ ${mb(models + exported)} MB`];
  if (o.teacherOutputs) parts.push(`teacher outputs ≈ ${mb(o.teacherOutputs)} MB`);
  parts.push(`metrics ≈ ${mb(metrics)} MB`);
  return { bytes: checkpoints + models + exported + o.teacherOutputs + metrics, parts };
}

/** Total bytes of the files in a folder (recursive). */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    n += ent.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}
