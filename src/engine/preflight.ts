/**
 * What `distill run` (and the extension's Run) does before it creates a run folder: the checks of
 * `distill check` — data readable and consistent, models load and fit it, layer pairs resolve — so
 * that bad input is refused with the same located message and leaves nothing on disk; then an
 * estimate of the disk the run needs against the space free where its folder goes (a warning).
 */
import type { BackendName, ExperimentConfig } from '../config/types';
import { ExperimentError } from '../config/parse';
import type { EngineToHost } from '../protocol/engine';
import { initBackend } from './backend';
import { checkDataAndModels } from './check';
import type { PreparedData } from './data';
import { planJobs } from './training/jobs';
import { estimateRunBytes, freeBytes, mb } from '../runs/diskFaults';
import { stepsPerEpoch } from './training/train';

/** Returns the prepared data; throws ExperimentError (located) for a data or model problem. */
export async function preflightRun(experimentFile: string, text: string, config: ExperimentConfig, backend: BackendName,
  runsDir: string, emit: (m: EngineToHost) => void): Promise<PreparedData> {
  await initBackend(backend); // a backend that cannot start is its own error, not a problem of the models
  const params = new Map<string, number>();
  const { errors, data } = await checkDataAndModels(experimentFile, text, config, backend, params);
  if (errors.length || !data) throw new ExperimentError(errors);
  const free = freeBytes(runsDir);
  if (free !== undefined) {
    const need = runSizeEstimate(config, data, params);
    if (need.bytes > free) {
      emit({ type: 'log', level: 'warn', message: `the disk of ${runsDir} has ${mb(free)} MB free; this run needs about ${mb(need.bytes)} MB ` +
        `(${need.parts.join(', ')}): it may fail with "disk full" — it stays resumable from its last checkpoint once space is freed` });
    }
  }
  return data;
}

/** The disk a run of `config` needs, roughly (runs/diskFaults.ts estimateRunBytes). */
export function runSizeEstimate(config: ExperimentConfig, data: PreparedData, params: Map<string, number>): ReturnType<typeof estimateRunBytes> {
  const jobs = Object.values(planJobs(config)).map((j) => {
    const training = j.kind === 'teacher' && config.teacher?.train ? config.teacher.train : config.training;
    return { model: j.model ?? 'student', epochs: j.epochs, optimizer: training.optimizer.kind, steps: j.epochs * stepsPerEpoch(data.train.size, training) / training.logEvery };
  });
  const t = config.teacher;
  const fixedTeacher = t && 'model' in t && !t.train && config.teacherCacheMB > 0;
  const rows = data.train.size + (data.validation?.size ?? 0) + data.test.size;
  return estimateRunBytes({
    jobs, params: Object.fromEntries(params), studentParams: params.get('student') ?? 0,
    teacherOutputs: fixedTeacher ? rows * data.numClasses * 4 : 0,
    steps: jobs.reduce((n, j) => n + j.steps, 0),
  });
}
