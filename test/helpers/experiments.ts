/** Builds small, fast experiments in temporary folders for the engine tests. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..', '..');

export function tempDir(prefix = 'distill-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A synthetic-data experiment: teacher trained first, then scratch + distilled students. */
export function syntheticExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'synthetic-test',
    seeds: [1],
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples: 512, classes: 4, shape: [16], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 256, classes: 4, shape: [16], seed: 2 },
      validation: { fraction: 0.125 },
      normalize: 'none',
    },
    teacher: {
      module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [64], classes: 4 },
      train: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    student: { module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [8], classes: 4 } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: 2, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 2 },
    baseline: true,
    ...overrides,
  };
}

/** Writes an experiment (and the examples' models.ts beside it); returns the experiment file. */
export function writeExperiment(dir: string, experiment: Record<string, unknown>, name = 'exp.distill.json'): string {
  fs.copyFileSync(path.join(REPO, 'examples', 'models.ts'), path.join(dir, 'models.ts'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(experiment, null, 2));
  return file;
}

/** Reads metrics.jsonl as parsed records (every line must parse). */
export function metricLines(runDir: string): Record<string, unknown>[] {
  return fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The small CNN pair the image experiments use (8×8×1 inputs, 4 classes; tapped layers conv_1, conv_2). */
export const teacherCnn = { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [6, 8], dense: 16, classes: 4 } };
export const studentCnn = { module: 'models.ts', export: 'cnn', args: { inputShape: [8, 8, 1], filters: [3, 4], dense: 8, classes: 4 } };

/**
 * Synthetic 8×8 images (`samples` training images), the CNN teacher trained first for one epoch,
 * the small CNN student, labels only, 3 epochs with a step line every step; `overrides` replace
 * top-level fields.
 */
export function imageExperiment(overrides: Record<string, unknown> = {}, samples = 192): Record<string, unknown> {
  return {
    name: 'images',
    seeds: [1],
    data: {
      train: { format: 'synthetic', kind: 'images', samples, classes: 4, shape: [8, 8, 1], seed: 1 },
      test: { format: 'synthetic', kind: 'images', samples: 64, classes: 4, shape: [8, 8, 1], seed: 2 },
    },
    teacher: { ...teacherCnn, train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } } },
    student: studentCnn,
    knowledge: [],
    labels: { weight: 1 },
    training: { epochs: 3, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 1 },
    baseline: false,
    ...overrides,
  };
}
