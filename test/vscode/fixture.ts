/**
 * Creates the fixture workspace of the extension-host suite (run by scripts/vscode/test.sh before
 * VS Code starts): the examples' models.ts, a quick synthetic experiment, a longer one (to stop and
 * to kill mid-run), and a run folder left `running` by a process that is gone (a closed window).
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

function main(): void {
  const ws = path.resolve(process.argv[2] ?? path.join(REPO, '.e2e', 'ws'));
  fs.rmSync(ws, { recursive: true, force: true });
  fs.mkdirSync(ws, { recursive: true });
  fs.copyFileSync(path.join(REPO, 'examples', 'models.ts'), path.join(ws, 'models.ts'));
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
