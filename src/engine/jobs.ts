/**
 * The jobs of a run per scheme (see run.ts for the table), in the order they run.
 */
import type { ExperimentConfig } from '../config/types';
import type { JobState } from './runs/store';

/** The jobs of an experiment, in the order they run. */
export function planJobs(config: ExperimentConfig): Record<string, JobState> {
  const jobs: Record<string, JobState> = {};
  const scheme = config.scheme;
  const job = (kind: JobState['kind'], seed: number, extra: Partial<JobState> = {}, epochs = config.training.epochs): JobState =>
    ({ kind, seed, status: 'pending', epochs, completedEpochs: 0, ...extra });
  const t = config.teacher?.train;
  if (t && scheme.kind !== 'online') jobs.teacher = job('teacher', config.seeds[0], { model: 'teacher' }, t.epochs);
  for (const seed of config.seeds) {
    if (config.baseline) jobs[`scratch-s${seed}`] = job('scratch', seed, { model: 'student' });
    switch (scheme.kind) {
      case 'offline':
        jobs[`distill-s${seed}`] = job('distill', seed, { model: 'student', teacher: 'teacher', final: true });
        break;
      case 'born-again': {
        let teacher = 'teacher';
        for (let g = 1; g <= scheme.generations; g++) {
          const id = `born-g${g}-s${seed}`;
          jobs[id] = job('distill', seed, { model: 'student', teacher, final: g === scheme.generations });
          teacher = id;
        }
        break;
      }
      case 'ta-chain': {
        let teacher = 'teacher';
        scheme.assistants.forEach((_, i) => {
          const id = `ta${i + 1}-s${seed}`;
          jobs[id] = job('distill', seed, { model: `assistant:${i}`, teacher });
          teacher = id;
        });
        jobs[`distill-s${seed}`] = job('distill', seed, { model: 'student', teacher, final: true });
        break;
      }
      case 'online':
        jobs[`online-s${seed}`] = job('online', seed, { model: 'student', final: true });
        break;
      case 'self':
        jobs[`self-s${seed}`] = job('self', seed, { model: 'student', final: true });
        break;
    }
  }
  return jobs;
}

