/**
 * How issue 18's jobs, logged values and quantised copies read in the views (Experiments tree,
 * status bar, dashboard, compression report): the data-free run's `synthesize` job counts batches,
 * not epochs; `real-s<seed>` is the real-data distillation a data-free run is compared with;
 * `qat-s<seed>` is the quantisation-aware copy; the adversarial term's step params
 * (`adversarial.discLoss`, `adversarial.discAcc`) are the discriminator's; a quantised copy is named
 * by its bits and method (`int4 · post-training`). Pure (no vscode, no DOM, no Node): the host and
 * the webview apps both import it; tested in test/unit/jobWords.test.ts.
 */

/** The job id of a data-free run's synthesis (src/runs/store.ts, JobKind `synthesize`). */
export const SYNTHESIZE_JOB = 'synthesize';

/** A job id with what it is, where the id alone does not say: `real-s1 · KD on real data`, `qat-s2 · quantisation-aware`. */
export function jobLabel(job: string): string {
  if (job === SYNTHESIZE_JOB) return 'synthesize · data-free inputs';
  if (/^real-s\d+$/.test(job)) return `${job} · KD on real data`;
  if (/^qat-s\d+$/.test(job)) return `${job} · quantisation-aware`;
  return job;
}

/** Where a job is: `synthesizing batch 3/8` for the synthesis (its epochs are batches), `epoch 2/5` for any other. */
export function positionWords(job: string, epoch: number, epochs: number): string {
  return job === SYNTHESIZE_JOB ? `synthesizing batch ${epoch}/${epochs}` : `epoch ${epoch}/${epochs}`;
}

/** The unit of a job's epoch records: `batch` for the synthesis, else `epoch`. */
export function epochUnit(job: string): 'batch' | 'epoch' {
  return job === SYNTHESIZE_JOB ? 'batch' : 'epoch';
}

const PARAM_WORDS: Record<string, string> = {
  discLoss: 'discriminator loss',
  discAcc: 'discriminator accuracy',
};

/**
 * A step param or epoch extra as a chart legend says it: `adversarial.discLoss` → `discriminator
 * loss (adversarial)`, `adversarial#2.discAcc` → `discriminator accuracy (adversarial#2)`; names
 * without readable words (`ctkd.temperature`) stay as they are.
 */
export function paramLabel(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return name;
  const words = PARAM_WORDS[name.slice(dot + 1)];
  return words ? `${words} (${name.slice(0, dot)})` : name;
}

/** A quantised copy's row label: `int8 · post-training`, `int4 · post-training`, `int8 · quantisation-aware` (`+ activations` when they were fake-quantised too). */
export function quantizedLabel(q: { bits?: number; method?: 'ptq' | 'qat'; activations?: boolean }): string {
  const bits = q.bits ?? 8;
  if (q.method === 'qat') return `int${bits} · quantisation-aware${q.activations ? ' + activations' : ''}`;
  return `int${bits} · post-training`;
}
