/**
 * Compression report controller: the models side by side from report.json (size, FLOPs, latency,
 * accuracy, agreement) and, from the engine, the per-layer figures of the run's models.
 */
import * as vscode from 'vscode';
import type { WebviewToHost } from '../../protocol/webviews';
import { compressionData, isTorchRun } from './panelData';
import { NO_RUN } from './shell';
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
      // issue 14: a torch run's models are PyTorch's: its per-layer figures come from report.json when it has them.
      if (isTorchRun(runDir)) {
        const data = compressionData(runDir, ctx.target.title, []);
        ctx.postNow({ type: 'init', panel: 'compression', target, data });
        return;
      }
      try {
        const a = await ctx.probe({ kind: 'layers', runDir });
        layers = [...a.teacher.map((l) => ({ model: 'teacher', ...l })), ...a.student.map((l) => ({ model: 'student', ...l }))]
          .map(({ model, name, type, params, flops }) => ({ model, name, type, params, flops }));
      } catch (e) {
        layerError = e;
      }
      const data = compressionData(runDir, ctx.target.title, layers);
      if (layerError && !data.error) data.error = `per-layer figures unavailable: ${(layerError as Error).message}`;
      ctx.postNow({ type: 'init', panel: 'compression', target, data });
      if (layerError) ctx.probeFailed(layerError);
    },
    async act(msg: WebviewToHost) {
      if (msg.type === 'exportStudent') await vscode.commands.executeCommand('distill.exportStudent', ctx.target.runDirs[0]);
    },
  };
}
