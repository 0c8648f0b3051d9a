/**
 * One live owner per run folder (and per sweep folder): an exclusive lock file, `<folder>/.owner.lock`,
 * holding the owner's pid, the start time of that pid (Linux: field 22 of /proc/<pid>/stat, so a pid
 * reused by another process is not taken for the owner), the host name and when it took the folder.
 *
 * Taken atomically: the content is written to a file of our own, then hard-linked to the lock's name
 * (link fails with EEXIST when the lock exists, and a reader never sees a half-written lock). A lock
 * whose owner is dead (same host: no such pid, or the pid now belongs to a process started at
 * another time) is stale and taken over; breaking it is serialised by a second lock
 * (`.owner.lock.break`), so two processes that both found it stale cannot both take it. A lock of
 * another host is never broken (we cannot see its processes): the error says which host holds it.
 *
 * `processAlive` is the one rule for "is the owner alive", used by `distill list`, the extension
 * (interrupted runs) and the lock.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const LOCK_FILE = '.owner.lock';

export interface LockInfo {
  pid: number;
  /** Start time of `pid` in clock ticks since boot (Linux); absent elsewhere. */
  pidStart?: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
}

/** Refused: another live process owns the folder. `message` reads "run … is being trained by pid N since …". */
export class FolderLockedError extends Error {
  constructor(message: string, public readonly owner: LockInfo, public readonly folder: string) {
    super(message);
    this.name = 'FolderLockedError';
  }
}

/** The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or undefined where there is no /proc. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]); // field 22 overall; fields[0] is field 3 (state)
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Whether the process that owns a folder is alive: on this host, its pid exists (EPERM counts as
 * existing: another user's process) and, when its start time was recorded, the pid still belongs
 * to the process started then. On another host it cannot be known: taken as alive.
 */
export function processAlive(pid: number | undefined, pidStart?: number, host?: string): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  if (host !== undefined && host !== os.hostname()) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (pidStart !== undefined) {
    const now = processStartTime(pid);
    if (now !== undefined && now !== pidStart) return false; // the pid was reused
  }
  return true;
}

/** This process, as a lock owner. */
export function selfOwner(): LockInfo {
  return { pid: process.pid, pidStart: processStartTime(process.pid), host: os.hostname(), since: new Date().toISOString() };
}

function readLock(file: string): LockInfo | undefined | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as LockInfo;
    return typeof v.pid === 'number' ? v : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** The live owner of a folder, if any (a stale or missing lock: undefined). */
export function folderOwner(folder: string): LockInfo | undefined {
  const info = readLock(path.join(folder, LOCK_FILE));
  if (!info || info === 'unreadable') return undefined;
  return processAlive(info.pid, info.pidStart, info.host) ? info : undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Creates `target` holding `content`, atomically and only if it does not exist; false when it exists. */
function linkExclusive(target: string, content: string): boolean {
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, content, { flag: 'wx' });
  try {
    fs.linkSync(tmp, target);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export interface FolderLock {
  readonly folder: string;
  readonly owner: LockInfo;
  /** Removes the lock (only while it is still ours); safe to call twice. */
  release(): void;
}

/**
 * Takes the folder for this process, or throws FolderLockedError naming the live owner. `what`
 * words the refusal: `(o) => "run X is being trained by pid N since …"`. A stale lock (dead owner)
 * is taken over; `onTakeOver` hears about it.
 */
export function lockFolder(folder: string, refusal: (o: LockInfo) => string, onTakeOver?: (stale: LockInfo) => void): FolderLock {
  const file = path.join(folder, LOCK_FILE);
  const me = selfOwner();
  const content = JSON.stringify(me);
  let broken: LockInfo | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (linkExclusive(file, content)) {
      if (broken) onTakeOver?.(broken); // said once the folder is ours (another breaker may have won)
      let released = false;
      return {
        folder, owner: me,
        release: () => {
          if (released) return;
          released = true;
          try {
            const cur = readLock(file);
            if (cur && cur !== 'unreadable' && cur.pid === me.pid && cur.since === me.since) fs.rmSync(file, { force: true });
          } catch {
            // e.g. a file system turned read-only: the lock stays, and is stale once this process ends
          }
        },
      };
    }
    const cur = readLock(file);
    if (cur === undefined) continue; // released meanwhile: try again
    if (cur !== 'unreadable' && processAlive(cur.pid, cur.pidStart, cur.host)) {
      throw new FolderLockedError(refusal(cur), cur, folder);
    }
    breakStale(file, cur);
    if (cur !== 'unreadable') broken = cur;
  }
  throw new Error(`${folder}: could not take ${LOCK_FILE} (it keeps changing)`);
}

/** Removes a stale lock, unless it changed since it was judged stale; one breaker at a time. */
function breakStale(file: string, stale: LockInfo | 'unreadable'): void {
  const breaker = `${file}.break`;
  for (let i = 0; i < 100; i++) {
    if (linkExclusive(breaker, JSON.stringify(selfOwner()))) {
      try {
        const now = readLock(file);
        if (now !== undefined && JSON.stringify(now) === JSON.stringify(stale)) fs.rmSync(file, { force: true });
      } finally {
        fs.rmSync(breaker, { force: true });
      }
      return;
    }
    const b = readLock(breaker);
    // A breaker that died in the few lines above leaves its file: dead owner → removed.
    if (b !== undefined && (b === 'unreadable' || !processAlive(b.pid, b.pidStart, b.host))) fs.rmSync(breaker, { force: true });
    else sleepSync(5);
  }
}

/** "since 2026-12-02 07:10:00 UTC (on host h)" */
export function describeOwner(o: LockInfo): string {
  const since = o.since.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `pid ${o.pid} since ${since}${o.host !== os.hostname() ? ` on host ${o.host}` : ''}`;
}

/** Locks a run folder for this process: refuses with "run <id> is being trained by pid N since …" while another owner lives. */
export function lockRun(runDir: string, emit?: (m: { type: 'log'; level: 'info'; message: string }) => void): FolderLock {
  const id = path.basename(runDir);
  return lockFolder(runDir, (o) => `run ${id} is being trained by ${describeOwner(o)} (${runDir}); stop it first, or wait for it to end`,
    (stale) => emit?.({ type: 'log', level: 'info', message: `run ${id}: its previous owner, pid ${stale.pid}, is gone; taking over` }));
}

/** Locks a sweep folder: refuses with "sweep <id> is being run by pid N since …" while another owner lives. */
export function lockSweep(sweepDir: string, emit?: (m: { type: 'log'; level: 'info'; message: string }) => void): FolderLock {
  const id = path.basename(sweepDir);
  return lockFolder(sweepDir, (o) => `sweep ${id} is being run by ${describeOwner(o)} (${sweepDir}); stop it first, or wait for it to end`,
    (stale) => emit?.({ type: 'log', level: 'info', message: `sweep ${id}: its previous owner, pid ${stale.pid}, is gone; taking over` }));
}
