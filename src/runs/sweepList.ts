/**
 * The sweep folders of an experiment (`<experiment dir>/.distill/sweeps/<name>/<sweep-id>/`, see
 * sweeps.ts), newest first, and a cheap fingerprint of a sweep folder: what the Experiments tree
 * lists and what the Sweep panel polls to know that something changed (sweep.json, or a point's
 * run.json / report.json) before it reads anything else.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SweepJson } from './sweeps';
import { readSweep } from './sweeps';

export interface SweepEntry {
  sweepDir: string;
  sweep: SweepJson;
}

/** The default sweeps root of an experiment file (where `distill sweep` and the extension create them). */
export function sweepsRoot(experimentFile: string): string {
  return path.join(path.dirname(path.resolve(experimentFile)), '.distill', 'sweeps');
}

/** Every readable sweep folder of `experimentFile` under `roots` (default: its sweeps root), newest first. */
export function listSweeps(experimentFile: string, roots: string[] = [sweepsRoot(experimentFile)]): SweepEntry[] {
  const file = path.resolve(experimentFile);
  const out: SweepEntry[] = [];
  const seen = new Set<string>();
  for (const root of roots) {
    if (!fs.existsSync(root)) continue;
    for (const name of fs.readdirSync(root, { withFileTypes: true })) {
      if (!name.isDirectory()) continue;
      const parent = path.join(root, name.name);
      for (const id of fs.readdirSync(parent, { withFileTypes: true })) {
        const sweepDir = path.join(parent, id.name);
        if (!id.isDirectory() || seen.has(sweepDir) || !fs.existsSync(path.join(sweepDir, 'sweep.json'))) continue;
        try {
          const sweep = readSweep(sweepDir);
          if (path.resolve(sweep.experimentFile) !== file) continue;
          out.push({ sweepDir, sweep });
          seen.add(sweepDir);
        } catch {
          // a sweep.json being written or damaged: not listed (the CLI's sweep-report says why)
        }
      }
    }
  }
  return out.sort((a, b) => b.sweep.createdAt.localeCompare(a.sweep.createdAt) || b.sweepDir.localeCompare(a.sweepDir));
}

function stamp(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  } catch {
    return '-';
  }
}

/**
 * Changes whenever sweep.json or any point's run.json or report.json is written (atomic writes
 * replace the file: a new mtime). The running point's run.json changes every epoch, so its progress
 * follows too.
 */
export function sweepFingerprint(sweepDir: string): string {
  const parts = [stamp(path.join(sweepDir, 'sweep.json'))];
  let sweep: SweepJson | undefined;
  try {
    sweep = readSweep(sweepDir);
  } catch {
    return parts.join('|');
  }
  for (const p of sweep.points) {
    if (!p.runDir) continue;
    const dir = path.join(sweepDir, p.runDir);
    parts.push(stamp(path.join(dir, 'run.json')), stamp(path.join(dir, 'report.json')));
  }
  return parts.join('|');
}

/**
 * A stamp of the sweep folders under the sweeps roots of `experimentFiles` (names and sweep.json
 * modification times; stat only, nothing parsed): the Experiments tree compares it every few
 * seconds, because a file watcher can miss files created in a brand-new folder tree (inotify adds
 * the new folders' watches after the engine already wrote in them).
 */
export function sweepsStamp(experimentFiles: string[]): string {
  const parts: string[] = [];
  for (const root of [...new Set(experimentFiles.map(sweepsRoot))]) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names) {
      let ids: string[];
      try {
        ids = fs.readdirSync(path.join(root, name));
      } catch {
        continue;
      }
      for (const id of ids) parts.push(`${root}/${name}/${id}:${stamp(path.join(root, name, id, 'sweep.json'))}`);
    }
  }
  return parts.sort().join('|');
}
