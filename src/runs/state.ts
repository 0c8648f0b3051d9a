/**
 * The run-state rule, in one place: every view (the CLI's `list` and `sweep-report`, the experiments
 * tree, the run manager, notifications) derives what it shows of a run from its run.json with these
 * functions, so no two views disagree.
 *
 * - `interrupted`: run.json says `running` but the process that owns it is gone (a kill, a closed
 *   window, a crash) — the run resumes from its last checkpoint;
 * - `failed`, `cancelled`, `interrupted` are resumable; `queued`, `running`, `completed` are not.
 */
import type { RunJson, RunStatus } from './store';
import { isOwnerAlive } from './store';

export type RunState = RunStatus | 'interrupted';

/** The state of a run: its status, or `interrupted` when it says running and its owner is dead. */
export function runState(run: Pick<RunJson, 'status' | 'pid'>, alive = (r: Pick<RunJson, 'pid'>): boolean => isOwnerAlive(r as RunJson)): RunState {
  return run.status === 'running' && !alive(run) ? 'interrupted' : run.status;
}

/** Whether `distill resume` (the extension's Resume) continues a run in this state. */
export function isResumable(state: RunState): boolean {
  return state === 'failed' || state === 'cancelled' || state === 'interrupted';
}

/** The state as every listing writes it: `interrupted (resumable)`, `failed (resumable)`, `completed`, … */
export function stateLabel(state: RunState): string {
  return isResumable(state) ? `${state} (resumable)` : state;
}
