/**
 * Dashboard controller: the run's loss terms, learning rate and per-epoch accuracies from
 * metrics.jsonl, then live — new lines are read incrementally and sent as `append` (only what is
 * new) at ≥ 2 Hz, with the run's state from run.json.
 */
import { runState } from '../runData';
import { MetricsTail, readRun } from '../../runs/store';
import { DashboardBuilder, dashboardData, runVerdict, teacherAccuracy } from './panelData';
import type { PanelContext, PanelController } from './shell';

const POLL_MS = 400;

export function dashboardPanel(ctx: PanelContext): PanelController {
  let timer: NodeJS.Timeout | undefined;
  let tail: MetricsTail | undefined;
  let builder: DashboardBuilder | undefined;
  let lastState: string | undefined;
  /** The verdict was sent (issue 20: it comes with the report, when the run completes). */
  let verdictSent = false;

  const startPolling = (runDir: string): void => {
    if (timer) clearInterval(timer);
    timer = setInterval(() => {
      if (!tail || !builder) return;
      const records = tail.read();
      if (tail.superseded) {
        // a resumed job superseded points already shown: send the whole dashboard again
        tail = undefined;
        void ctx.refresh();
        return;
      }
      let state = lastState;
      try {
        state = runState(readRun(runDir));
      } catch {
        // the folder went away (deleted run): keep the last state
      }
      const verdict = verdictSent ? undefined : runVerdict(runDir);
      if (records.length === 0 && state === lastState && !verdict) return;
      lastState = state;
      if (verdict) verdictSent = true;
      const pts = builder.points(records);
      ctx.postNow({ type: 'append', ...pts, state: state ?? '–', teacherAcc: teacherAccuracy(runDir, pts.epochs), ...(verdict ? { verdict } : {}) });
    }, POLL_MS);
  };

  return {
    async init() {
      const target = ctx.targetState();
      const runDir = ctx.target.runDirs[0];
      if (!runDir) {
        ctx.postNow({ type: 'init', panel: 'dashboard', target, data: { title: ctx.target.title, runId: '–', state: 'no run yet', losses: [], lr: [], epochs: [] } });
        return;
      }
      // a (re)loaded webview gets everything again
      tail = new MetricsTail(runDir);
      builder = new DashboardBuilder();
      const data = dashboardData(runDir, tail, builder, ctx.target.title);
      lastState = data.state;
      verdictSent = data.verdict !== undefined;
      ctx.postNow({ type: 'init', panel: 'dashboard', target, data });
      startPolling(runDir);
    },
    dispose() {
      if (timer) clearInterval(timer);
    },
  };
}
