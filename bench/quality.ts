/**
 * Quality benchmark of the knowledge catalogue (not part of `npm test`): the shipped MNIST CNN
 * teacher (examples/teachers/mnist-cnn) teaches a small CNN (8/16 filters, dense 32) with each
 * method in turn; the same student trained from scratch is the baseline. Every row is the test
 * accuracy (last epoch) as mean ± std over the seeds.
 *
 *   node --import tsx bench/quality.ts [--train 12000] [--epochs 3] [--seeds 1,2,3] [--methods kd,at,…] [--json]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runExperiment } from '../src/engine/run';
import type { Report } from '../src/runs/report';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const TRAIN = Number(flag('train', '12000'));
const EPOCHS = Number(flag('epochs', '3'));
const SEEDS = flag('seeds', '1,2,3').split(',').map(Number);
const JSON_OUT = argv.includes('--json');

const examples = path.resolve(__dirname, '..', 'examples');
const pair = (t: string, s = t) => [{ teacher: t, student: s }];
const KD = { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 };
/** One knowledge list per row; feature/relation methods are combined with nothing else. */
const METHODS: Record<string, unknown[]> = {
  kd: [KD],
  dkd: [{ kind: 'response', method: 'dkd', temperature: 4, alpha: 1, beta: 8, warmup: 1, weight: 1 }],
  fitnet: [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: pair('pool_2') }],
  at: [{ kind: 'feature', method: 'at', weight: 100, pairs: [...pair('conv_1'), ...pair('conv_2')] }],
  nst: [{ kind: 'feature', method: 'nst', weight: 10, pairs: pair('conv_2') }],
  'rkd-distance': [{ kind: 'relation', method: 'rkd-distance', weight: 1, pairs: pair('dense_1') }],
  'rkd-angle': [{ kind: 'relation', method: 'rkd-angle', weight: 2, pairs: pair('dense_1') }],
  sp: [{ kind: 'relation', method: 'sp', weight: 100, pairs: pair('pool_2') }],
  fsp: [{ kind: 'relation', method: 'fsp', weight: 1, pairs: [{ teacher: ['pool_1', 'conv_2'], student: ['pool_1', 'conv_2'] }] }],
  pkt: [{ kind: 'relation', method: 'pkt', weight: 1, pairs: pair('dense_1') }],
  cc: [{ kind: 'relation', method: 'cc', weight: 1, pairs: pair('dense_1') }],
};
const only = flag('methods', '');
const chosen = only ? only.split(',') : Object.keys(METHODS);

function experiment(name: string, knowledge: unknown[], baseline: boolean): Record<string, unknown> {
  return {
    name,
    seeds: SEEDS,
    data: {
      train: { format: 'mnist', split: 'train', limit: TRAIN },
      test: { format: 'mnist', split: 'test' },
    },
    teacher: { model: path.join(examples, 'teachers', 'mnist-cnn', 'model.json') },
    student: { module: path.join(examples, 'models.ts'), export: 'cnn', args: { filters: [8, 16], dense: 32 } },
    knowledge,
    labels: { weight: knowledge.length ? 0.1 : 1 },
    training: { epochs: EPOCHS, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.002 } },
    baseline,
  };
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-quality-'));
  const rows: { method: string; mean: number; std: number; n: number; seconds: number }[] = [];
  let teacherAcc = NaN;
  const t0 = Date.now();
  for (const [i, method] of ['scratch', ...chosen].entries()) {
    const knowledge = method === 'scratch' ? [] : METHODS[method];
    if (!knowledge) throw new Error(`unknown method ${method}; known: ${Object.keys(METHODS).join(', ')}`);
    // The scratch row is the baseline of the first experiment; the others skip it.
    const file = path.join(dir, `${method}.distill.json`);
    fs.writeFileSync(file, JSON.stringify(experiment(`q-${method}`, method === 'scratch' ? [KD] : knowledge, i === 0)));
    const start = Date.now();
    const r = await runExperiment({ experiment: file, runsDir: path.join(dir, 'runs') });
    if (r.status !== 'completed') throw new Error(`${method}: ${r.status} ${r.error ?? ''}`);
    const report = JSON.parse(fs.readFileSync(path.join(r.runDir, 'report.json'), 'utf8')) as Report;
    teacherAcc = report.teacher?.testAcc ?? teacherAcc;
    const s = method === 'scratch' ? report.summary.scratch! : report.summary.distill!;
    rows.push({ method, mean: s.testAcc.mean, std: s.testAcc.std, n: s.testAcc.n, seconds: (Date.now() - start) / 1000 });
    if (method === 'scratch') {
      const kd = report.summary.distill!;
      rows.push({ method: 'kd', mean: kd.testAcc.mean, std: kd.testAcc.std, n: kd.testAcc.n, seconds: 0 });
    }
    process.stderr.write(`${method}: ${(s.testAcc.mean * 100).toFixed(2)} ± ${(s.testAcc.std * 100).toFixed(2)} (${((Date.now() - start) / 1000).toFixed(0)} s)\n`);
  }
  const unique = rows.filter((r, i) => rows.findIndex((x) => x.method === r.method) === i);
  if (JSON_OUT) {
    console.log(JSON.stringify({ teacherAcc, train: TRAIN, epochs: EPOCHS, seeds: SEEDS, rows: unique }, null, 2));
    return;
  }
  console.log(`MNIST, CNN teacher (32/64 filters, ${(teacherAcc * 100).toFixed(2)}% test) → CNN student (8/16 filters, dense 32);` +
    ` ${TRAIN} training images, ${EPOCHS} epochs, Adam 2e-3, seeds ${SEEDS.join(',')}; wall ${((Date.now() - t0) / 60000).toFixed(1)} min`);
  console.log('| method | test accuracy (mean ± std) | Δ vs scratch |');
  console.log('|---|---|---|');
  const base = unique.find((r) => r.method === 'scratch')!.mean;
  for (const r of unique) {
    const d = (r.mean - base) * 100;
    console.log(`| ${r.method} | ${(r.mean * 100).toFixed(2)} ± ${(r.std * 100).toFixed(2)} | ${r.method === 'scratch' ? '—' : `${d >= 0 ? '+' : ''}${d.toFixed(2)}`} |`);
  }
})().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
