/**
 * Feature maps controller: the engine lists a run's checkpoints, test samples and pairs (ids this
 * controller hands out), then computes the maps of one checkpoint × sample × pair on request.
 * Requests name only those ids: anything else is dropped.
 */
import type { FeatureMapsInitAnswer } from '../../protocol/engine';
import type { WebviewToHost } from '../../protocol/webviews';
import { NO_RUN } from './shell';
import type { PanelContext, PanelController } from './shell';

export function featureMapsPanel(ctx: PanelContext): PanelController {
  let ids: FeatureMapsInitAnswer | undefined;

  const probe = async (requestId: number, checkpoint: string, sample: number, pair: string): Promise<void> => {
    const runDir = ctx.target.runDirs[0];
    // only ids this panel handed out
    if (!runDir || !ids || !ids.checkpoints.some((c) => c.id === checkpoint) || !ids.samples.some((s) => s.id === sample) || !ids.pairs.some((p) => p.id === pair)) {
      ctx.dropped(`probe: unknown checkpoint, sample or pair (${checkpoint}, ${sample}, ${pair})`);
      ctx.post({ type: 'featureMapsError', requestId, message: 'unknown checkpoint, sample or pair: reopen the panel' });
      return;
    }
    const [entry, p] = pair.split(':').map(Number);
    ctx.post({ type: 'busy', busy: true, what: 'computing feature maps in the engine' });
    try {
      const a = await ctx.probe({ kind: 'featureMaps', runDir, checkpoint, sample, entry, pair: p });
      ctx.post({ type: 'featureMaps', requestId, ...a });
    } catch (e) {
      ctx.post({ type: 'featureMapsError', requestId, message: ctx.probeFailed(e) });
    } finally {
      ctx.post({ type: 'busy', busy: false });
    }
  };

  return {
    async init() {
      const target = ctx.targetState();
      const runDir = ctx.target.runDirs[0];
      const empty = { title: ctx.target.title, checkpoints: [], samples: [], pairs: [] };
      if (!runDir) {
        ctx.postNow({ type: 'init', panel: 'featureMaps', target, data: { ...empty, error: NO_RUN } });
        return;
      }
      ctx.postNow({ type: 'busy', busy: true, what: 'loading the run\'s checkpoints and test samples in the engine' });
      try {
        ids = await ctx.probe({ kind: 'featureMapsInit', runDir });
        ctx.postNow({ type: 'init', panel: 'featureMaps', target, data: { title: ctx.target.title, ...ids } });
      } catch (e) {
        ctx.postNow({ type: 'init', panel: 'featureMaps', target, data: { ...empty, error: (e as Error).message } });
        ctx.probeFailed(e);
      }
    },
    async act(msg: WebviewToHost) {
      if (msg.type === 'probe') await probe(msg.requestId, msg.checkpoint, msg.sample, msg.pair);
    },
  };
}
