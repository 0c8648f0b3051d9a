/**
 * Sweep panel controller: the points of a sweep folder (target.runDirs[0] is the sweep folder) with
 * their live status, size against accuracy with the Pareto front, parallel coordinates. It follows
 * the sweep the way the dashboard follows a run: a poll (cheap — a fingerprint of the modification
 * times of sweep.json and the points' run.json / report.json) and a full `sweepUpdate` when
 * something changed; now and then a full read anyway, so that a point whose process died shows as
 * interrupted though no file changed. `openPoint` opens the point's run in the dashboard (the
 * existing command).
 */
import * as vscode from 'vscode';
import { sweepFingerprint } from '../../runs/sweepList';
import type { WebviewToHost } from '../../protocol/webviews';
import { pointRunDir, sweepPanelData } from './sweepData';
import type { PanelContext, PanelController } from './shell';

const POLL_MS = 500;
/** Every this many polls the data is read even when no file changed (a dead process changes no file). */
const FULL_EVERY = 10;

export function sweepPanel(ctx: PanelContext): PanelController {
  let timer: NodeJS.Timeout | undefined;
  let fingerprint = '';
  let last = '';
  let ticks = 0;
  const sweepDir = (): string | undefined => ctx.target.runDirs[0];

  const poll = (dir: string): void => {
    ticks++;
    const fp = sweepFingerprint(dir);
    if (fp === fingerprint && ticks % FULL_EVERY !== 0) return;
    fingerprint = fp;
    const data = sweepPanelData(dir);
    const json = JSON.stringify(data);
    if (json === last) return;
    last = json;
    ctx.postNow({ type: 'sweepUpdate', data });
  };

  return {
    async init() {
      const dir = sweepDir();
      const target = ctx.targetState();
      if (!dir) {
        ctx.postNow({ type: 'init', panel: 'sweep', target, data: { title: ctx.target.title, name: ctx.target.title, id: '–', state: 'no sweep', axes: {}, seeds: [], points: [], error: 'no sweep folder: run a sweep first (distill sweep <experiment>)' } });
        return;
      }
      fingerprint = sweepFingerprint(dir);
      const data = sweepPanelData(dir);
      last = JSON.stringify(data);
      ctx.postNow({ type: 'init', panel: 'sweep', target, data });
      if (timer) clearInterval(timer);
      timer = setInterval(() => poll(dir), POLL_MS);
    },
    async act(msg: WebviewToHost) {
      if (msg.type !== 'openPoint') return;
      const dir = sweepDir();
      const runDir = dir ? pointRunDir(dir, msg.point) : undefined;
      if (!runDir) {
        ctx.dropped(`openPoint: point ${msg.point} has no run folder`);
        ctx.post({ type: 'notice', level: 'info', message: `Point ${msg.point} has not started yet: its dashboard opens once its run has a folder.` });
        return;
      }
      await vscode.commands.executeCommand('distill.openDashboard', vscode.Uri.file(runDir));
    },
    dispose() {
      if (timer) clearInterval(timer);
    },
  };
}
