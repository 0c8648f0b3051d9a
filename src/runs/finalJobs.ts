/**
 * Which jobs of a run produce "the distilled student": the result the report summarises as
 * distilled, the one the run exports, the one a dashboard or a tree row speaks for.
 *
 * planJobs marks them `final: true` (offline `distill-s<seed>`, the last born-again generation,
 * ta-chain's `distill-s<seed>`, online and self students) and every intermediate `final: false`
 * (earlier born-again generations, ta-chain assistants `ta<i>-s<seed>`). Run folders written
 * before schemes existed have no `final` at all, and those written before assistants were marked
 * have none on the assistants: then a distill job of the student architecture is final and an
 * assistant (`model: "assistant:<i>"`) never is. An assistant is a different, larger network, so
 * counting it as "the distilled student" would report (or export) the wrong model.
 * (python/distill_torch/engine.py applies the same rule.)
 */
import type { JobState } from './store';

export function isFinalJob(state: Pick<JobState, 'kind' | 'model' | 'final'>): boolean {
  if (state.final !== undefined) return state.final;
  return state.kind === 'distill' && !(state.model ?? 'student').startsWith('assistant:');
}
