/**
 * issue 15, without a cluster: the `cluster` section's located errors, the executor flags, the
 * job array's --array value and batch script, the default parallelism rule, and sweep.json updates
 * from several processes at once (none lost).
 * Run: node --import tsx --test test/unit/sweepExecutors.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseExperimentText } from '../../src/config/parse';
import { defaultParallel, executorFlags, SweepFlagError } from '../../src/cli/sweepExecutors';
import { arraySpec, arrayScript } from '../../src/runs/slurm';
import type { SweepJson } from '../../src/runs/sweeps';
import { readSweep } from '../../src/runs/sweeps';
import { stopSweep } from '../../src/host/sweepControl';

const base = {
  name: 'c', seeds: [1],
  data: { train: { format: 'synthetic', kind: 'vectors', samples: 64, classes: 2, shape: [4], seed: 1 }, test: { format: 'synthetic', kind: 'vectors', samples: 32, classes: 2, shape: [4], seed: 2 } },
  teacher: { model: 't/model.json' }, student: { model: 's/model.json' },
  knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 1 }],
  training: { epochs: 1, batchSize: 8, optimizer: { kind: 'adam', learningRate: 0.01 } },
};

void test('cluster: a valid section is kept; bad values are located errors naming the field and what was expected', () => {
  const ok = parseExperimentText(JSON.stringify({ ...base, cluster: { partition: 'gpu', gpusPerTask: 1, cpusPerTask: 4, time: '1-02:00:00', memoryMB: 4000 } }, null, 2), 'e.distill.json');
  assert.deepEqual(ok.errors.filter((e) => e.severity === 'error'), []);
  assert.deepEqual(ok.config?.cluster, { partition: 'gpu', gpusPerTask: 1, cpusPerTask: 4, time: '1-02:00:00', memoryMB: 4000 });
  const text = JSON.stringify({ ...base, cluster: { time: '2 hours', cpusPerTask: 0, nodes: 2 } }, null, 2);
  const bad = parseExperimentText(text, 'e.distill.json').errors.filter((e) => e.severity === 'error');
  const byField = (p: string) => bad.find((e) => e.path.join('.') === p);
  assert.match(byField('cluster.time')?.message ?? '', /Slurm time limit: minutes, MM:SS, HH:MM:SS/);
  assert.equal(byField('cluster.time')?.location.line, text.split('\n').findIndex((l) => l.includes('"time"')) + 1);
  assert.match(byField('cluster.cpusPerTask')?.message ?? '', /1/);
  assert.ok(bad.some((e) => /nodes/.test(e.message)), JSON.stringify(bad));
});

void test('executor flags: values checked; --parallel implies local; cluster flags imply slurm', () => {
  assert.deepEqual(executorFlags({}), { executor: undefined, cluster: {} });
  assert.deepEqual(executorFlags({ parallel: '3' }), { executor: 'local', parallel: 3, cluster: {} });
  assert.deepEqual(executorFlags({ executor: 'slurm', partition: 'p1', time: '30', 'cpus-per-task': '2', 'gpus-per-task': '1', 'memory-mb': '512' }),
    { executor: 'slurm', cluster: { partition: 'p1', time: '30', cpusPerTask: 2, gpusPerTask: 1, memoryMB: 512 } });
  assert.throws(() => executorFlags({ executor: 'k8s' }), (e: unknown) => e instanceof SweepFlagError && /--executor: expected one of local, slurm, found "k8s"/.test(e.message));
  assert.throws(() => executorFlags({ parallel: '0' }), /--parallel: expected an integer ≥ 1, found "0"/);
  assert.throws(() => executorFlags({ time: '1h' }), /--time: expected a Slurm time limit/);
  assert.throws(() => executorFlags({ executor: 'slurm', parallel: '2' }), /--parallel is for --executor local/);
});

void test('--array values, the batch script, the default parallelism', () => {
  assert.equal(arraySpec([0, 1, 2]), '0-2');
  assert.equal(arraySpec([4, 1, 3, 7, 8, 9]), '1,3-4,7-9');
  assert.equal(arraySpec([5]), '5');
  const s = arrayScript({ sweepDir: '/s/x y', name: 'my exp', indices: [1, 2], cluster: { partition: 'gpu', gpusPerTask: 1, time: '0:30:00', memoryMB: 100 }, node: '/usr/bin/node', cli: '/d/cli.js', pointArgs: ['--backend', 'cpu'], dependency: 'afterany:7' });
  for (const line of ['#SBATCH --array=1-2', '#SBATCH --job-name=distill-my_exp', '#SBATCH --output=/s/x y/slurm/%A_%a.out', '#SBATCH --partition=gpu',
    '#SBATCH --cpus-per-task=1', '#SBATCH --gpus-per-task=1', '#SBATCH --time=0:30:00', '#SBATCH --mem=100M', '#SBATCH --dependency=afterany:7',
    `exec '/usr/bin/node' '/d/cli.js' sweep-point '/s/x y' "$SLURM_ARRAY_TASK_ID" '--backend' 'cpu'`]) {
    assert.ok(s.split('\n').includes(line), `${line}\n---\n${s}`);
  }
  const cores = os.availableParallelism();
  assert.equal(defaultParallel(1), cores);
  assert.equal(defaultParallel(cores + 1), 1);
  assert.equal(defaultParallel(2), Math.max(1, Math.floor(cores / 2)));
});

void test('sweep.json updated by 4 processes at once, 25 times each: no update is lost', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sweep-upd-'));
  const sweep: SweepJson = { name: 'n', id: 'i', experimentFile: 'f', experimentText: '{}', axes: {}, seeds: [1], status: 'running', createdAt: '', updatedAt: '',
    points: [0, 1, 2, 3].map((i) => ({ id: `p0${i}`, values: { n: 0 }, status: 'pending' as const })) };
  fs.writeFileSync(path.join(dir, 'sweep.json'), JSON.stringify(sweep));
  const script = `const { updateSweep } = require(${JSON.stringify(path.resolve(__dirname, '../../src/runs/sweeps.ts'))});
    for (let k = 0; k < 25; k++) updateSweep(process.argv[1], (s) => { s.points[Number(process.argv[2])].values.n++; s.points[0].values.total = (s.points[0].values.total ?? 0) + 1; });`;
  const kids = [0, 1, 2, 3].map((i) => cp.spawn(process.execPath, ['--import', 'tsx', '-e', script, dir, String(i)], { stdio: 'inherit' }));
  return Promise.all(kids.map((k) => new Promise<void>((res, rej) => k.on('exit', (c) => (c === 0 ? res() : rej(new Error(`exit ${c}`))))))).then(() => {
    const s = readSweep(dir);
    assert.deepEqual(s.points.map((p) => p.values.n), [25, 25, 25, 25]);
    assert.equal(s.points[0].values.total, 100);
  });
});

void test('stopSweep without Slurm: SIGINT to the live owner of the sweep folder; nothing to stop once it is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sweep-stop-'));
  fs.writeFileSync(path.join(dir, 'sweep.json'), JSON.stringify({ name: 'n', id: 'i', experimentFile: 'f', experimentText: '{}', axes: {}, seeds: [1], status: 'running', createdAt: '', updatedAt: '', points: [], executor: { kind: 'local', parallel: 2 } }));
  // the owner: takes the sweep lock as `distill sweep` does, says so, and on SIGINT writes a file and leaves
  const script = `const { lockSweep } = require(${JSON.stringify(path.resolve(__dirname, '../../src/runs/lock.ts'))});
    const lock = lockSweep(process.argv[1]);
    process.on('SIGINT', () => { require('fs').writeFileSync(process.argv[1] + '/stopped', 'yes'); lock.release(); process.exit(130); });
    console.log('locked'); setInterval(() => undefined, 1000);`;
  const owner = cp.spawn(process.execPath, ['--import', 'tsx', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => owner.stdout.on('data', (d: Buffer) => { if (d.toString().includes('locked')) res(); }));
  const exited = new Promise<number | null>((res) => owner.on('exit', (c) => res(c)));
  const r = stopSweep(dir);
  assert.equal(r.signalled, owner.pid);
  assert.deepEqual(r.jobs, []);
  assert.match(r.message, new RegExp(`asked pid ${owner.pid} to stop`));
  assert.equal(await exited, 130);
  assert.equal(fs.readFileSync(path.join(dir, 'stopped'), 'utf8'), 'yes');
  assert.match(stopSweep(dir).message, /is not running/);
});
