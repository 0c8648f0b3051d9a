/**
 * Creates the fixture workspace of the extension-host suite (run by scripts/vscode/test.sh before
 * VS Code starts): the examples' models.ts, a quick synthetic experiment, a longer one (to stop and
 * to kill mid-run), a run folder left `running` by a process that is gone (a closed window), and
 * for the torch engine (issues 14, 15) the PyTorch examples' models.py with a tiny torch experiment
 * (synthetic 28×28 images, one epoch: seconds on the real /usr/bin/python3).
 * usage: tsx test/vscode/fixture.ts <workspace folder>
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadExperiment } from '../../src/config/parse';
import { createRun, updateRun } from '../../src/runs/store';
import type { JobState } from '../../src/runs/store';
import { REPO, syntheticExperiment } from '../helpers/experiments';

export const QUICK = 'quick.distill.json';
export const LONG = 'long.distill.json';
export const TORCH = 'torch.distill.json';

/** A tiny torch experiment on examples/torch/models.py's CNN factory (same layer names as the examples). */
export function torchExperiment(name = 'torch-quick'): Record<string, unknown> {
  const images = (samples: number, seed: number) => ({ format: 'synthetic', kind: 'images', samples, classes: 4, shape: [28, 28, 1], seed });
  return {
    name,
    engine: 'torch',
    device: 'cpu',
    seeds: [1],
    data: { train: images(192, 1), test: images(64, 2) },
    teacher: {
      module: 'models.py', export: 'cnn', args: { filters: [8, 16], dense: 32, classes: 4 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    student: { module: 'models.py', export: 'cnn', args: { filters: [4, 8], dense: 16, classes: 4 } },
    knowledge: [
      { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
      { kind: 'feature', method: 'at', weight: 10, pairs: [{ teacher: 'features.relu2', student: 'features.relu2' }] },
    ],
    labels: { weight: 0.1 },
    training: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 1 },
    baseline: false,
  };
}

function main(): void {
  const ws = path.resolve(process.argv[2] ?? path.join(REPO, '.e2e', 'ws'));
  fs.rmSync(ws, { recursive: true, force: true });
  fs.mkdirSync(ws, { recursive: true });
  fs.copyFileSync(path.join(REPO, 'examples', 'models.ts'), path.join(ws, 'models.ts'));
  fs.copyFileSync(path.join(REPO, 'examples', 'torch', 'models.py'), path.join(ws, 'models.py'));
  fs.writeFileSync(path.join(ws, TORCH), JSON.stringify(torchExperiment(), null, 2) + '\n');
  fs.writeFileSync(path.join(ws, QUICK), JSON.stringify(syntheticExperiment({ name: 'quick' }), null, 2) + '\n');
  fs.writeFileSync(path.join(ws, LONG), JSON.stringify(syntheticExperiment({
    name: 'long',
    baseline: false,
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples: 8192, classes: 4, shape: [16], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 256, classes: 4, shape: [16], seed: 2 },
      normalize: 'none',
    },
    teacher: {
      module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
      train: { epochs: 1, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    training: { epochs: 4, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.005 }, logEvery: 1 },
  }), null, 2) + '\n');

  // A run of `quick` that a closed window left `running` (its owner pid is gone).
  const file = path.join(ws, QUICK);
  const { config, text } = loadExperiment(file);
  if (!config) throw new Error('fixture experiment is invalid');
  const jobs: Record<string, JobState> = {
    teacher: { kind: 'teacher', seed: 1, status: 'pending', epochs: 2, completedEpochs: 0 },
    'scratch-s1': { kind: 'scratch', seed: 1, status: 'pending', epochs: 2, completedEpochs: 0 },
    'distill-s1': { kind: 'distill', seed: 1, status: 'pending', epochs: 2, completedEpochs: 0 },
  };
  const runDir = createRun(path.join(ws, '.distill', 'runs'), { experimentFile: file, experimentText: text ?? '', config }, jobs);
  updateRun(runDir, (r) => {
    r.status = 'running';
    r.pid = deadPid();
    r.startedAt = new Date(Date.now() - 60_000).toISOString();
  });
  fs.writeFileSync(path.join(ws, 'interrupted-run.txt'), runDir);
  console.log(`fixture workspace: ${ws} (interrupted run ${path.basename(runDir)})`);
}

/** A pid no process has (checked with signal 0). */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch {
      return pid;
    }
  }
}

main();
