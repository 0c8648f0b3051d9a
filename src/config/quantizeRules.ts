/**
 * issue 18: the rules of `student.quantize` a JSON Schema cannot express (src/config/types.ts,
 * QuantizeConfig): `activations` needs `aware`; `aware` trains a quantisation-aware copy of the
 * distilled student, which schemes offline, born-again and ta-chain have (online and self do not:
 * their students learn with peers or their own heads); and `quantize` belongs to the student only
 * (the schema shares the model forms with the teacher and the assistants).
 */
import type { JsonPath } from './errors';
import type { ExperimentConfig } from './types';

const AWARE_SCHEMES = ['offline', 'born-again', 'ta-chain'];

export function quantizeChecks(config: ExperimentConfig, at: (path: JsonPath, message: string) => void): void {
  const q = config.student.quantize;
  if (q) {
    if (q.activations && !q.aware) {
      at(['student', 'quantize', 'activations'], 'activation quantisation is part of quantisation-aware training: set "aware": true beside it (or remove "activations")');
    }
    if (q.aware && !AWARE_SCHEMES.includes(config.scheme.kind)) {
      at(['student', 'quantize', 'aware'], `scheme "${config.scheme.kind}" has no distilled student to train quantisation-aware; "aware" works with schemes ${AWARE_SCHEMES.map((s) => `"${s}"`).join(', ')} (post-training quantisation still happens without it)`);
    }
    if (q.aware && config.data.train.format === 'teacher-synthesized') {
      // Neither engine plans a qat job on synthesised inputs (a data-free run's jobs: src/engine/training/dataFreeJobs.ts).
      at(['student', 'quantize', 'aware'], 'quantisation-aware training is not available in a data-free run (data.train "teacher-synthesized"); remove "aware" (the exported student is still quantised after training) or distil on real data');
    }
  }
  if (config.teacher && 'quantize' in config.teacher) {
    at(['teacher', 'quantize'], '"quantize" is a field of the student only (the teacher is not quantised)');
  }
  if (config.scheme.kind === 'ta-chain') {
    config.scheme.assistants.forEach((a, i) => {
      if ('quantize' in a) at(['scheme', 'assistants', i, 'quantize'], '"quantize" is a field of the student only (assistants are not quantised)');
    });
  }
}
