/**
 * Synthesized Inputs controller (issue 18): a data-free run's synthesised inputs as a grid per
 * class, with each batch's BN-statistics loss (first → last iteration) and the teacher's accuracy
 * on it (synthesizedData.ts reads the run's `synthesized/` folder). Live while the synthesis runs:
 * a cheap poll (does the next batch's .json exist? did the run's state change?) and a
 * `synthesizedUpdate` when it did — with the newest batch's grid, unless the user picked a batch.
 * `pickBatch` shows a batch written so far (0: follow the newest again); anything else is dropped.
 * Free of `vscode` (types only), so test/unit/synthesizedPanel.test.ts drives it with a fake context.
 */
import { runState } from '../runData';
import { readRun } from '../../runs/store';
import type { RunJson } from '../../runs/store';
import type { WebviewToHost } from '../../protocol/webviews';
import { batchWritten, synthesizedData } from './synthesizedData';
import type { PanelContext, PanelController } from './shell';

const POLL_MS = 500;

export function synthesizedPanel(ctx: PanelContext): PanelController {
  let timer: NodeJS.Timeout | undefined;
  /** Batches known to the webview, the run's state it was told, the batch the user picked (0: the newest). */
  let known = 0;
  let lastState = '';
  let pick = 0;

  const read = (runDir: string): { run?: RunJson; state: string } => {
    try {
      const run = readRun(runDir);
      return { run, state: runState(run) };
    } catch {
      return { state: lastState || 'gone' }; // the folder went away (deleted run): keep the last state
    }
  };

  const data = (runDir: string) => {
    const { run, state } = read(runDir);
    const d = synthesizedData(runDir, state, pick, run?.classNames);
    known = d.batches.length;
    lastState = state;
    return d;
  };

  const poll = (runDir: string): void => {
    const { state } = read(runDir);
    if (state === lastState && !batchWritten(runDir, known + 1)) return;
    const d = data(runDir);
    // a picked batch's grid does not change: only the list and the state then
    if (pick) delete d.grid;
    ctx.postNow({ type: 'synthesizedUpdate', data: d });
  };

  return {
    async init() {
      const target = ctx.targetState();
      const runDir = ctx.target.runDirs[0];
      if (!runDir) {
        ctx.postNow({ type: 'init', panel: 'synthesized', target, data: { title: ctx.target.title, state: 'no run yet', batches: [], error: 'no run yet: run the experiment first' } });
        return;
      }
      ctx.postNow({ type: 'init', panel: 'synthesized', target, data: { title: ctx.target.title, ...data(runDir) } });
      if (timer) clearInterval(timer);
      timer = setInterval(() => poll(runDir), POLL_MS);
    },
    async act(msg: WebviewToHost) {
      if (msg.type !== 'pickBatch') return;
      const runDir = ctx.target.runDirs[0];
      if (!runDir || (msg.batch !== 0 && !batchWritten(runDir, msg.batch))) {
        ctx.dropped(`pickBatch: batch ${msg.batch} has not been written`);
        ctx.post({ type: 'notice', level: 'info', message: `Batch ${msg.batch} has not been written yet.` });
        return;
      }
      pick = msg.batch;
      ctx.post({ type: 'synthesizedUpdate', data: data(runDir) });
    },
    dispose() {
      if (timer) clearInterval(timer);
    },
  };
}
