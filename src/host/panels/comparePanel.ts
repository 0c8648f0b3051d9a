/** Compare runs controller: loss and accuracy curves, final figures and the config keys that differ, from the run folders. */
import { compareData } from './panelData';
import type { PanelContext, PanelController } from './shell';

export function comparePanel(ctx: PanelContext): PanelController {
  return {
    async init() {
      ctx.postNow({ type: 'init', panel: 'compare', target: ctx.targetState(), data: compareData(ctx.target.runDirs, ctx.target.title) });
    },
  };
}
