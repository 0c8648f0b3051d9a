/**
 * Compression report controller: the models side by side from report.json (size, FLOPs, latency,
 * accuracy, agreement) and, from the engine, the per-layer figures of the run's models.
 */
import * as vscode from 'vscode';
import type { WebviewToHost } from '../../protocol/webviews';
import { compressionData, isTorchRun } from './panelData';
import { NO_RUN } from './shell';
import { isRestrictedModeError } from '../trust';
import type { PanelContext, PanelController } from './shell';

export function compressionPanel(ctx: PanelContext): PanelController {
  return {
    async init() {
      const target = ctx.targetState();
      const runDir = ctx.target.runDirs[0];
      if (!runDir) {
        ctx.postNow({ type: 'init', panel: 'compression', target, data: { title: ctx.target.title, columns: [], layers: [], canExport: false, backend: '–', error: NO_RUN } });
        return;
      }
      let layers: { model: string; name: string; type: string; params: number; flops: number }[] = [];
      let layerError: unknown;
      try {
        const a = await ctx.probe({ kind: 'layers', runDir });
        layers = [...a.teacher.map((l) => ({ model: 'teacher', ...l })), ...a.student.map((l) => ({ model: 'student', ...l }))]
          .map(({ model, name, type, params, flops }) => ({ model, name, type, params, flops }));
      } catch (e) {
        layerError = e;
      }
      // issue 14: a torch run whose layers the engine could not list keeps its report's figures, with a
      // note on the per-layer table instead of an error (compressionData); Restricted Mode still prompts.
      const quiet = Boolean(layerError) && isTorchRun(runDir) && !isRestrictedModeError(layerError);
      const data = compressionData(runDir, ctx.target.title, layers);
      if (layerError && !data.error && !quiet) data.error = `per-layer figures unavailable: ${(layerError as Error).message}`;
      ctx.postNow({ type: 'init', panel: 'compression', target, data });
      if (layerError && !quiet) ctx.probeFailed(layerError);
    },
    async act(msg: WebviewToHost) {
      if (msg.type === 'exportStudent') await vscode.commands.executeCommand('distill.exportStudent', ctx.target.runDirs[0]);
    },
  };
}
