/**
 * `npm run bench:hinton` (not in CI): Hinton, Vinyals & Dean 2015, MNIST — a 784-1200-1200-10
 * teacher regularised with dropout (0.2 inputs, 0.5 hidden) and ±2-pixel input jitter; a
 * 784-800-800-10 student trained alone (no regularisation), and the same student distilled at T = 20
 * (soft targets 0.9, hard targets 0.1). Test errors on the 10k test set beside the paper's 67 / 146 / 74.
 * Every job: Adam 1e-3 with a cosine decay to 0 over its epochs (the paper trained far longer with
 * SGD, momentum and a decaying rate; a constant rate leaves the dropout teacher noisy from epoch to
 * epoch), batch 64, full 60k training images (no validation split), last epoch reported.
 *
 *   npm run bench:hinton [-- --teacher-epochs 20] [-- --student-epochs 20]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runExperiment } from '../src/engine/run';
import type { Report } from '../src/runs/report';

const argv = process.argv.slice(2);
const num = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const TEACHER_EPOCHS = num('teacher-epochs', 20);
const STUDENT_EPOCHS = num('student-epochs', 20);

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-hinton-'));
  fs.copyFileSync(path.join(__dirname, '..', 'examples', 'models.ts'), path.join(dir, 'models.ts'));
  const adam = { kind: 'adam', learningRate: 0.001, schedule: 'cosine' };
  const exp = {
    name: 'hinton-2015',
    data: {
      train: { format: 'mnist', split: 'train' }, test: { format: 'mnist', split: 'test' },
      augment: { shift: 2, jobs: 'teacher' },
    },
    teacher: {
      module: 'models.ts', export: 'mlp', args: { hidden: [1200, 1200], dropout: 0.5, inputDropout: 0.2 },
      train: { epochs: TEACHER_EPOCHS, batchSize: 64, optimizer: adam, logEvery: 200 },
    },
    student: { module: 'models.ts', export: 'mlp', args: { hidden: [800, 800] } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: 20, weight: 0.9 }],
    labels: { weight: 0.1 },
    training: { epochs: STUDENT_EPOCHS, batchSize: 64, optimizer: adam, logEvery: 200 },
    baseline: true,
  };
  const file = path.join(dir, 'hinton.distill.json');
  fs.writeFileSync(file, JSON.stringify(exp, null, 2));
  const t0 = Date.now();
  const r = await runExperiment({
    experiment: file,
    emit: (m) => {
      if (m.type === 'epoch') process.stderr.write(`${m.job} epoch ${m.epoch}: test errors ${m.metrics.testErrors}  (${((Date.now() - t0) / 60000).toFixed(1)} min)\n`);
    },
  });
  if (r.status !== 'completed') throw new Error(`${r.status}: ${r.error}`);
  const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Report;
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  console.log(`Hinton et al. 2015 on MNIST: teacher ${TEACHER_EPOCHS} epochs, students ${STUDENT_EPOCHS} epochs, Adam 1e-3 cosine to 0, batch 64, ` +
    `backend ${report.backend}; wall ${minutes} min; run folder ${r.runDir}`);
  console.log('| model | test errors (ours) | test errors (paper) |');
  console.log('|---|---:|---:|');
  console.log(`| teacher 2×1200, dropout + jitter | ${report.teacher?.testErrors} | 67 |`);
  console.log(`| student 2×800 alone | ${report.summary.scratch?.testErrors.mean} | 146 |`);
  console.log(`| student 2×800 distilled, T = 20 | ${report.summary.distill?.testErrors.mean} | 74 |`);
})().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
