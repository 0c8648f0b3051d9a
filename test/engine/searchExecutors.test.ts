/**
 * issue 18 × issue 15: a student search on the sweep executors. Synthetic vectors, a teacher trained
 * by the first point, three width candidates by successive halving in 2 rungs (3 points, then the
 * best 2). Every run is seeded and uses `--backend cpu` (the same arithmetic in any process), so a
 * search whose rungs run as `distill sweep-point` processes must plan the same points, score them
 * the same and choose the same candidate as the one-process search:
 *
 *   - `--executor local --parallel 2` against the one-process search;
 *   - the lead killed (SIGKILL) while a rung runs, then `distill sweep-resume`: the same search,
 *     every point in one run folder (none run twice), the executor kept;
 *   - `--executor slurm` through the real one-node Slurm (test/helpers/slurm.ts): one array per rung
 *     (the teacher's point its own array first), the same search.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { SweepJson } from '../../src/runs/sweeps';
import { processAlive } from '../../src/runs/lock';
import { tempDir, writeExperiment, syntheticExperiment } from '../helpers/experiments';
import { buildCli, CLI, cli, slurmMustRun, slurmWhy, startSlurm, sweepDirOf } from '../helpers/slurm';

function experiment(samples: number, epochs: number): Record<string, unknown> {
  return syntheticExperiment({
    name: 'search-exec',
    data: {
      train: { format: 'synthetic', kind: 'vectors', samples, classes: 4, shape: [16], seed: 1 },
      test: { format: 'synthetic', kind: 'vectors', samples: 128, classes: 4, shape: [16], seed: 2 },
      normalize: 'none',
    },
    teacher: {
      module: 'models.ts', export: 'mlp', args: { inputs: 16, hidden: [32], classes: 4 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
    },
    student: { derive: { round: 4 } },
    training: { epochs, batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, logEvery: 4 },
    baseline: false,
    search: { budget: { params: 100000 }, space: { width: [0.125, 0.25, 0.5] }, rungs: 2, objective: 'testAcc' },
    cluster: { cpusPerTask: 1, time: '0:10:00', memoryMB: 1024 },
  });
}

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;
const sweepOf = (dir: string): SweepJson => readJson<SweepJson>(path.join(dir, 'sweep.json'));

/** What a search decided: per point its rung, candidate and status; per candidate its score; the chosen one; the shared teacher. */
function decisions(s: SweepJson): unknown {
  return {
    status: s.status,
    points: s.points.map((p) => [p.id, p.rung, p.candidate, p.status]),
    scores: s.search!.candidates.map((c) => [c.id, c.params, c.rung, c.score, c.dropped ?? false]),
    chosen: s.search!.chosen,
    teacher: s.teacher?.from,
  };
}

/** Every point in exactly one run folder of its own, and no other run folder in the sweep. */
function oneRunPerPoint(dir: string): void {
  const s = sweepOf(dir);
  const runDirs = s.points.map((p) => p.runDir);
  assert.ok(runDirs.every((d) => d !== undefined), JSON.stringify(s.points));
  assert.equal(new Set(runDirs).size, runDirs.length);
  const root = path.join(dir, 'runs', s.name);
  assert.deepEqual(fs.readdirSync(root).sort(), runDirs.map((d) => path.basename(d!)).sort(), 'a run folder no point owns: a point ran twice');
}

const common = (dir: string): string[] => ['--backend', 'cpu', '--sweeps-dir', path.join(dir, 'sweeps')];

void test('a search with --executor local --parallel 2 plans, scores and chooses as the one-process search; a completed search point is skipped by sweep-point', { timeout: 600_000 }, () => {
  buildCli();
  const dir = tempDir();
  const file = writeExperiment(dir, experiment(256, 2));
  const one = cli(['sweep', file, ...common(dir)]);
  assert.equal(one.code, 0, one.out);
  const par = cli(['sweep', file, '--executor', 'local', '--parallel', '2', ...common(dir)]);
  assert.equal(par.code, 0, par.out);
  assert.doesNotMatch(par.out, /is not used for it/);
  const [a, b] = [sweepOf(sweepDirOf(one.out)), sweepOf(sweepDirOf(par.out))];
  assert.equal(a.executor, undefined);
  assert.deepEqual(b.executor, { kind: 'local', parallel: 2 });
  // rung 0: the 3 candidates (p01 trains the teacher, alone); rung 1: the best 2
  assert.deepEqual(b.points.map((p) => p.rung), [0, 0, 0, 1, 1]);
  assert.match(par.out, /\[p01\] runs first, alone: it trains the teacher/);
  assert.match(par.out, /rung 2, executor local: 2 points to run, 2 at once/);
  assert.deepEqual(decisions(b), decisions(a));
  assert.equal(b.status, 'completed');
  assert.ok(b.search!.chosen);
  oneRunPerPoint(sweepDirOf(par.out));
  const report = readJson<{ search: { chosen: unknown } }>(path.join(sweepDirOf(par.out), 'report.json'));
  assert.deepEqual(report.search.chosen, b.search!.chosen);

  // sweep-point of a completed search point: skipped; the finished search untouched
  const again = cli(['sweep-point', sweepDirOf(par.out), '3', '--backend', 'cpu']);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /already completed: skipped/);
  assert.deepEqual(decisions(sweepOf(sweepDirOf(par.out))), decisions(b));
});

void test('a search lead killed (SIGKILL) mid-rung: sweep-resume finishes it with the same choice, no point run twice, the executor kept', { timeout: 600_000 }, async () => {
  buildCli();
  const dir = tempDir();
  // longer points than above (32 steps an epoch, rungs of 2 and 4 epochs): the kill lands while points train
  const file = writeExperiment(dir, experiment(1024, 4));
  const ref = cli(['sweep', file, ...common(dir)], {}, 480_000);
  assert.equal(ref.code, 0, ref.out);
  const want = decisions(sweepOf(sweepDirOf(ref.out)));

  const lead = cp.spawn(process.execPath, [CLI, 'sweep', file, '--executor', 'local', '--parallel', '2', ...common(dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  lead.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  lead.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((res) => lead.on('exit', () => res()));
  // killed once p01 (the teacher's point) completed and p02 trains
  let found: string | undefined;
  const deadline = Date.now() + 240_000;
  for (;;) {
    found ??= /sweep folder: (\S+)/.exec(out)?.[1];
    const s = found && fs.existsSync(path.join(found, 'sweep.json')) ? sweepOf(found) : undefined;
    const p2 = s?.points[1];
    if (p2?.runDir && fs.existsSync(path.join(found!, p2.runDir, 'metrics.jsonl'))) break;
    assert.ok(Date.now() < deadline, `p02 did not start training within 240 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const sweepDir: string = found!;
  lead.kill('SIGKILL');
  await exited;
  // the points' engine processes lost their parent: they checkpoint and stop; wait until none lives
  const runJsons = (): { status: string; pid?: number }[] => sweepOf(sweepDir).points.filter((p) => p.runDir)
    .map((p) => readJson<{ status: string; pid?: number }>(path.join(sweepDir, p.runDir!, 'run.json')));
  const stopDeadline = Date.now() + 120_000;
  while (runJsons().some((r) => r.pid !== undefined && processAlive(r.pid))) {
    assert.ok(Date.now() < stopDeadline, `the orphaned points did not stop within 120 s: ${JSON.stringify(runJsons())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const killed = sweepOf(sweepDir);
  assert.ok(killed.points.some((p) => p.status !== 'completed'), `the kill interrupted nothing: ${JSON.stringify(killed.points)}`);
  assert.equal(killed.search!.chosen, undefined);

  const resumed = cli(['sweep-resume', sweepDir, '--backend', 'cpu'], {}, 480_000);
  assert.equal(resumed.code, 0, resumed.out);
  assert.match(resumed.out, /executor local: /, 'sweep-resume keeps the executor');
  const end = sweepOf(sweepDir);
  assert.deepEqual(end.executor, { kind: 'local', parallel: 2 });
  assert.deepEqual(decisions(end), want);
  oneRunPerPoint(sweepDir);
  // the points completed before the kill were not run again; the interrupted ones resumed in their own folders
  for (const p of killed.points.filter((q) => q.runDir)) assert.equal(end.points.find((q) => q.id === p.id)!.runDir, p.runDir, p.id);
});

const why = slurmWhy;
void test('a search through a Slurm job array per rung chooses as the one-process search', { skip: why && !slurmMustRun ? why : false, timeout: 900_000 }, () => {
  assert.equal(why, undefined, `CI=true as root: the Slurm test must run, but ${why}`);
  buildCli();
  const dir = tempDir();
  const file = writeExperiment(dir, experiment(256, 2));
  const one = cli(['sweep', file, ...common(dir)]);
  assert.equal(one.code, 0, one.out);
  const cluster = startSlurm();
  try {
    const slurm = cli(['sweep', file, '--executor', 'slurm', ...common(dir)], cluster.env, 600_000);
    assert.equal(slurm.code, 0, slurm.out);
    const s = sweepOf(sweepDirOf(slurm.out));
    assert.deepEqual(decisions(s), decisions(sweepOf(sweepDirOf(one.out))));
    assert.equal(s.executor?.kind, 'slurm');
    // rung 0: p01 (the teacher) alone, then p02–p03 after it; rung 1: its 2 points, one array
    assert.deepEqual(s.executor?.jobs?.map((j) => j.points), [[0], [1, 2], [3, 4]]);
    for (const j of s.executor!.jobs!) {
      for (const i of j.points) assert.match(fs.readFileSync(path.join(sweepDirOf(slurm.out), 'slurm', `${j.jobId}_${i}.out`), 'utf8'), new RegExp(`\\[${s.points[i].id}\\] completed`));
    }
    oneRunPerPoint(sweepDirOf(slurm.out));
  } finally {
    cluster.stop();
  }
});
