/**
 * The jobs of a data-free run (issue 18: data.train `teacher-synthesized`), as src/runs/store.ts
 * plans them for both engines: `synthesize` first (its epochs are the synthesis batches), then per
 * seed `scratch-s<seed>` (with `baseline`; on the reference when there is one, else on the
 * synthesised inputs), `distill-s<seed>` (the final student, on the synthesised inputs) and, with a
 * reference, `real-s<seed>` (the same distillation on the real data, not exported).
 */
import type { ExperimentConfig, TeacherSynthesizedSource } from '../../config/types';
import type { JobState } from '../../runs/store';

export function planDataFreeJobs(config: ExperimentConfig): Record<string, JobState> {
  const src = config.data.train as TeacherSynthesizedSource;
  const job = (kind: JobState['kind'], seed: number, extra: Partial<JobState>, epochs = config.training.epochs): JobState =>
    ({ kind, seed, status: 'pending', epochs, completedEpochs: 0, ...extra });
  const jobs: Record<string, JobState> = {
    synthesize: job('synthesize', config.seeds[0], { model: 'teacher' }, Math.ceil(src.samples / (src.batchSize ?? 128))),
  };
  const ref: Partial<JobState> = src.reference ? { data: 'reference' } : {};
  for (const seed of config.seeds) {
    if (config.baseline) jobs[`scratch-s${seed}`] = job('scratch', seed, { model: 'student', ...ref });
    jobs[`distill-s${seed}`] = job('distill', seed, { model: 'student', teacher: 'teacher', final: true });
    if (src.reference) jobs[`real-s${seed}`] = job('distill', seed, { model: 'student', teacher: 'teacher', final: false, data: 'reference' });
  }
  return jobs;
}

/**
 * A data-free run's job for the time estimate (budget.ts): the synthesize job's steps are Adam
 * iterations on a batch of `batchSize` inputs through the teacher (about a teacher training step);
 * the jobs on the synthesised inputs have `samples` rows. Undefined outside data-free runs and for
 * jobs on the reference (`trainSize` is the reference's).
 */
export function dataFreeJobSize(config: ExperimentConfig, job: JobState): { rowsPerEpoch: number; batchSize: number } | undefined {
  const src = config.data.train;
  if (src.format !== 'teacher-synthesized' || job.data === 'reference') return undefined;
  if (job.kind === 'synthesize') return { rowsPerEpoch: (src.iterations ?? 200) * config.training.batchSize, batchSize: src.batchSize ?? 128 };
  return { rowsPerEpoch: src.samples, batchSize: config.training.batchSize };
}
