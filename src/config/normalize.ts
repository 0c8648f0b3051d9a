/**
 * Normalisation: what the rules imply, filled in once the file is valid (and so visible in the
 * run's config.json): `momentum` 0.9 for the momentum optimizer, a derived student's `from` (the
 * teacher it is derived from), and no teacher for self-distillation (its teacher is ignored, with a
 * warning from the rules), and the torch engine's `device` (`auto`) and `precision` (`fp32`).
 */
import type { ExperimentConfig, TrainingConfig } from './types';

export function normalize(config: ExperimentConfig): ExperimentConfig {
  const scheme = config.scheme;
  const trainings: (TrainingConfig | undefined)[] = [config.training, config.teacher?.train, 'derive' in config.student ? undefined : config.student.train];
  if (scheme.kind === 'ta-chain') trainings.push(...scheme.assistants.map((a) => a.train));
  for (const t of trainings) {
    if (t && t.optimizer.kind === 'momentum' && t.optimizer.momentum === undefined) t.optimizer.momentum = 0.9;
  }
  if ('derive' in config.student && scheme.kind !== 'self' && config.teacher) config.student.from = config.teacher;
  if (scheme.kind === 'self') delete config.teacher;
  // The torch engine's own fields (engineRules.ts refuses them for tfjs).
  if (config.engine === 'torch') {
    config.device ??= 'auto';
    config.precision ??= 'fp32';
  }
  return config;
}
