/**
 * `distill list [target]`: the runs a target means, sweep runs included and marked with their sweep.
 *
 *   (none)                        ./.distill/runs and every sweep under ./.distill/sweeps
 *   <folder with .distill>, <.distill>   the same for that folder
 *   <experiment.distill.json>     that experiment's runs (not its neighbours') and its sweeps' runs
 *   <sweep folder>                the runs of that sweep's points (a folder with sweep.json)
 *   <sweeps folder>               every sweep under it (.distill/sweeps, or .distill/sweeps/<name>)
 *   <runs folder>                 every run under it (<runs>/<experiment>/<run-id>, or <runs>/<experiment>)
 *   <run folder>                  that run
 *
 * Statuses follow the one run-state rule (src/runs/state.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Report } from '../runs/report';
import type { RunJson } from '../runs/store';
import { defaultRunsDir, listRuns, readJson, readRun } from '../runs/store';
import type { SweepJson } from '../runs/sweeps';
import { runState, stateLabel } from '../runs/state';
import { pct, table } from './format';
import { runEngine } from '../runs/engineLabel';

/** The backend column: a TF.js run's backend as before; a torch run's engine and device (issue 14). */
function backendCell(run: RunJson): string {
  const e = runEngine(run);
  return e.engine === 'torch' ? e.label : run.backend?.name ?? '—';
}

interface Listed {
  runDir: string;
  run: RunJson;
  /** `<sweep name>/<sweep id> <point>` for a sweep's run. */
  sweep?: string;
}

const isSweepDir = (d: string): boolean => fs.existsSync(path.join(d, 'sweep.json'));
const isRunDir = (d: string): boolean => fs.existsSync(path.join(d, 'run.json'));
const subdirs = (d: string): string[] => {
  try {
    return fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => path.join(d, e.name));
  } catch {
    return [];
  }
};

/** Sweep folders at `dir`, or one or two levels under it (`<sweeps>/<name>/<id>`). */
function findSweeps(dir: string): string[] {
  if (isSweepDir(dir)) return [dir];
  return subdirs(dir).flatMap((d) => (isSweepDir(d) ? [d] : subdirs(d).filter(isSweepDir)));
}

/** The runs of a sweep folder, each marked with the sweep and its point. */
function sweepRuns(sweepDir: string): Listed[] {
  let sweep: SweepJson;
  try {
    sweep = readJson<SweepJson>(path.join(sweepDir, 'sweep.json'));
  } catch {
    return [];
  }
  const pointOf = new Map(sweep.points.filter((p) => p.runDir).map((p) => [path.resolve(sweepDir, p.runDir!), p.id]));
  return listRuns(path.join(sweepDir, 'runs')).map(({ runDir, run }) => {
    const point = pointOf.get(path.resolve(runDir));
    return { runDir, run, sweep: `${sweep.name}/${sweep.id}${point ? ` ${point}` : ''}` };
  });
}

function experimentFileOf(sweepDir: string): string | undefined {
  try {
    return path.resolve(readJson<SweepJson>(path.join(sweepDir, 'sweep.json')).experimentFile);
  } catch {
    return undefined;
  }
}

/** The runs `target` means (see the file comment); `where` says where they were looked for. */
export function listedRuns(target: string | undefined, cwd = process.cwd()): { runs: Listed[]; where: string } {
  let runs: Listed[] = [];
  let where = '';
  const workspace = (root: string): void => {
    const runsDir = path.join(root, '.distill', 'runs');
    const sweepsDir = path.join(root, '.distill', 'sweeps');
    runs = [...listRuns(runsDir), ...findSweeps(sweepsDir).flatMap(sweepRuns)];
    where = `${runsDir} or ${sweepsDir}`;
  };
  const resolved = target === undefined ? undefined : path.resolve(cwd, target);
  if (resolved === undefined) {
    workspace(cwd);
  } else if (!target!.endsWith('.distill.json') && !isSweepDir(resolved) && fs.existsSync(path.join(resolved, '.distill'))) {
    workspace(resolved); // a workspace folder
  } else if (!isSweepDir(resolved) && path.basename(resolved) === '.distill') {
    workspace(path.dirname(resolved)); // its .distill folder
  } else if (target!.endsWith('.distill.json')) {
    const file = resolved;
    const root = path.dirname(defaultRunsDir(file));
    const mine = (r: RunJson): boolean => path.resolve(r.experimentFile) === file;
    const sweeps = findSweeps(path.join(root, 'sweeps')).filter((d) => experimentFileOf(d) === file);
    runs = [...listRuns(defaultRunsDir(file)).filter((r) => mine(r.run)), ...sweeps.flatMap(sweepRuns)];
    where = `${defaultRunsDir(file)} or ${path.join(root, 'sweeps')} for ${file}`;
  } else {
    const dir = resolved;
    where = dir;
    if (!fs.existsSync(dir)) throw new Error(`${dir}: no such folder (give a runs folder, a sweep folder, a run folder or an experiment file)`);
    if (isRunDir(dir)) {
      runs = [{ runDir: dir, run: readRun(dir) }];
      const sweepDir = path.dirname(path.dirname(path.dirname(dir)));
      if (path.basename(path.dirname(path.dirname(dir))) === 'runs' && isSweepDir(sweepDir)) runs = sweepRuns(sweepDir).filter((r) => r.runDir === dir);
    } else {
      const sweeps = findSweeps(dir);
      // A runs folder (<runs>/<experiment>/<run-id>), or one experiment's folder of it (<runs>/<experiment>).
      const plain = subdirs(dir).some(isRunDir)
        ? subdirs(dir).filter(isRunDir).map((runDir) => ({ runDir, run: readRun(runDir) }))
        : listRuns(dir);
      runs = [...plain, ...sweeps.flatMap(sweepRuns)];
    }
  }
  runs.sort((a, b) => b.run.createdAt.localeCompare(a.run.createdAt));
  return { runs, where };
}

/** The table `distill list` prints (or the line saying there are no runs). */
export function listText(target: string | undefined, cwd = process.cwd()): string {
  const { runs, where } = listedRuns(target, cwd);
  if (runs.length === 0) return `no runs under ${where}`;
  const withSweeps = runs.some((r) => r.sweep);
  const rows = [['run', 'experiment', ...(withSweeps ? ['sweep'] : []), 'status', 'backend', 'jobs done', 'distilled test acc', 'folder']];
  for (const { runDir, run, sweep } of runs) {
    const jobs = Object.values(run.jobs);
    const done = jobs.filter((j) => j.status === 'completed').length;
    let acc = '—';
    const reportFile = path.join(runDir, 'report.json');
    if (fs.existsSync(reportFile)) {
      try {
        const s = readJson<Report>(reportFile).summary.distill?.testAcc;
        if (s) acc = pct(s.mean);
      } catch {
        // a report being written: shown without accuracy
      }
    }
    rows.push([run.id, run.experiment, ...(withSweeps ? [sweep ?? '—'] : []), stateLabel(runState(run)), backendCell(run),
      `${done}/${jobs.length}`, acc, path.relative(cwd, runDir) || '.']);
  }
  return table(rows);
}
