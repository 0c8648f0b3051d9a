/**
 * A student search (issue 18) on the sweep executors (issue 15): `distill sweep <experiment with
 * search> --executor local --parallel N | --executor slurm`, and `distill sweep-resume` of such a
 * search (which keeps the recorded executor).
 *
 * This process is the search's lead: it owns the sweep folder (the sweep lock) and drives the same
 * rung-by-rung loop as the one-process search (src/runs/searchLoop.ts):
 *
 *   - the candidates are measured in one engine process (the `figures` probe, one backend for all,
 *     as the one-process search measures them);
 *   - each rung's points are appended to sweep.json and run as `distill sweep-point` processes —
 *     `local`: up to N at once; `slurm`: one job array per rung, this process waiting for it
 *     (squeue; sacct where accounting is on) — the point that trains the shared teacher first, alone;
 *   - once a rung's points all completed, the next rung is planned from their reports on disk.
 *
 * Kill safety: everything the lead knows is in sweep.json and the points' run folders. A lead that
 * is killed (SIGKILL) leaves its local points' engine processes without a parent: they checkpoint
 * and stop (cancelled); Slurm tasks run on to their end. `distill sweep-resume <folder>` then
 * measures nothing again, plans no rung again, skips completed points, resumes interrupted ones
 * from their checkpoints, and refuses while jobs of the folder are still queued on Slurm (they would
 * run a point twice).
 */
import type { EngineToHost } from '../protocol/engine';
import { lockSweep } from '../runs/lock';
import type { RunRung } from '../runs/searchLoop';
import { runSearchLoop } from '../runs/searchLoop';
import type { SweepJson } from '../runs/sweeps';
import { readSweep } from '../runs/sweeps';
import { probeSession } from './engineClient';
import type { ExecutorOptions } from './sweepExecutors';
import { localControl, refuseStillQueued, runPointsLocal, runPointsSlurm, slurmControl, startLocal, startSlurm } from './sweepExecutors';

/** Runs (or resumes) the search in `dir` with the executor of `o`; the sweep's final sweep.json. */
export async function runSearchWithExecutor(dir: string, o: ExecutorOptions, log: (line: string) => void): Promise<SweepJson> {
  const lock = lockSweep(dir);
  try {
    let runRung: RunRung;
    let release: () => void;
    const todoOf = (indices: number[]): number => {
      const s = readSweep(dir);
      return indices.filter((i) => s.points[i].status !== 'completed').length;
    };
    if (o.kind === 'local') {
      const parallel = startLocal(dir, o);
      const ctl = localControl(log);
      release = ctl.release;
      runRung = async (d, r, indices) => {
        const n = todoOf(indices);
        log(`\nrung ${r + 1}, executor local: ${n} point${n === 1 ? '' : 's'} to run, ${parallel} at once`);
        await runPointsLocal(d, indices, parallel, o, log, ctl);
        return ctl.stopping ? 'stop' : 'continue';
      };
    } else {
      refuseStillQueued(dir);
      startSlurm(dir);
      const ctl = slurmControl(dir, log);
      release = ctl.release;
      runRung = async (d, r, indices) => {
        const n = todoOf(indices);
        log(`\nrung ${r + 1}, executor slurm: ${n} point${n === 1 ? '' : 's'} to run`);
        await runPointsSlurm(d, indices, o, log, ctl);
        return ctl.cancelling ? 'stop' : 'continue';
      };
    }
    // the probe process: started by the first measurement (a resumed search has measured already)
    let probes: ReturnType<typeof probeSession> | undefined;
    const engine = { ...(o.backend ? { backend: o.backend } : {}), ...(o.python ? { python: o.python } : {}) };
    try {
      return await runSearchLoop(dir, {
        emit: (m: EngineToHost) => { if (m.type === 'log') log(m.message); },
        figures: (experimentFile, text) => (probes ??= probeSession()).ask({ kind: 'figures', experimentFile, text, ...engine }),
      }, async (d, r, indices) => {
        probes?.close(); // every candidate is measured by now: the probe process is not needed any more
        return runRung(d, r, indices);
      });
    } finally {
      probes?.close();
      release();
    }
  } finally {
    lock.release();
  }
}
