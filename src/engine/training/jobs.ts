/**
 * The jobs of a run per scheme (see run.ts for the table), in the order they run.
 */
import type { ExperimentConfig, StudentSpec } from '../../config/types';
import { describeSpec } from '../models';
import type { JobState } from '../../runs/store';
import { planQatJobs } from './qat';
import { planDataFreeJobs } from './dataFreeJobs';

/** The jobs of an experiment, in the order they run. */
export function planJobs(config: ExperimentConfig): Record<string, JobState> {
  if (config.data.train.format === 'teacher-synthesized') return planDataFreeJobs(config); // issue 18 (dataFreeJobs.ts)
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
          // An assistant is a stage of the chain, never the distilled result (runs/finalJobs.ts).
          jobs[id] = job('distill', seed, { model: `assistant:${i}`, teacher, final: false });
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
  return planQatJobs(config, jobs); // issue 18: qat-s<seed> after each seed's distilled student (qat.ts)
}


/**
 * The architecture a job's `model` names: `teacher`, `student` (default), or `assistant:<i>`
 * (ta-chain), as planJobs writes them.
 */
export function modelSpec(config: ExperimentConfig, model: string | undefined): StudentSpec {
  if (model === 'teacher') return config.teacher!;
  if (model?.startsWith('assistant:')) {
    if (config.scheme.kind !== 'ta-chain') throw new Error(`job model ${model} needs scheme ta-chain`);
    return config.scheme.assistants[assistantIndex(model)];
  }
  return config.student;
}

/** How messages name that architecture, e.g. `assistant 1 (models.ts#cnn)`. */
export function modelLabel(config: ExperimentConfig, model: string | undefined): string {
  const name = model?.startsWith('assistant:') ? `assistant ${assistantIndex(model) + 1}` : (model ?? 'student');
  return `${name} (${describeSpec(modelSpec(config, model))})`;
}

/** Where that architecture stands in the experiment file (for located errors). */
export function modelPath(model: string | undefined): (string | number)[] {
  if (model === 'teacher') return ['teacher'];
  return model?.startsWith('assistant:') ? ['scheme', 'assistants', assistantIndex(model)] : ['student'];
}

function assistantIndex(model: string): number {
  return Number(model.slice('assistant:'.length));
}
