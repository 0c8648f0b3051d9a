/**
 * The CLI and the real one-node Slurm of the executor tests (issue 15's slurmSweep.test.ts, issue
 * 18's searchExecutors.test.ts): dist/cli.js built from this source, the CLI run with a deadline,
 * and scripts/slurm/start-local.sh (Debian's slurm-wlm + munge, as root) started and removed.
 * Where Slurm cannot start (not root, the packages missing) `slurmWhy` says why — and with CI=true
 * as root `slurmMustRun` says the test must run anyway (.ci/run installs slurm-wlm and munge).
 */
import assert from 'node:assert/strict';
import * as cp from 'child_process';
import * as path from 'path';
import { REPO, tempDir } from './experiments';

const START = path.join(REPO, 'scripts', 'slurm', 'start-local.sh');
const STOP = path.join(REPO, 'scripts', 'slurm', 'stop-local.sh');
export const CLI = path.join(REPO, 'dist', 'cli.js');

/** Why Slurm cannot start here, or undefined. */
function cannotStart(): string | undefined {
  if (process.getuid?.() !== 0) return `not root (uid ${process.getuid?.()}): start-local.sh needs root`;
  const missing = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo']
    .filter((c) => cp.spawnSync('sh', ['-c', `command -v ${c} || test -x /usr/sbin/${c}`]).status !== 0);
  return missing.length ? `missing ${missing.join(', ')}: apt-get install -y slurm-wlm munge` : undefined;
}

export const slurmWhy = cannotStart();
export const slurmMustRun = process.env.CI === 'true' && process.getuid?.() === 0;

let built = false;
/** dist/cli.js from this source (what the Slurm tasks, the local executor's lead and the studio's Run Sweep run). */
export function buildCli(): void {
  if (built) return;
  const build = cp.spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
  assert.equal(build.status, 0, build.stderr);
  built = true;
}

/** Runs the CLI with a deadline; exit code, output, wall seconds. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): { code: number | null; out: string; seconds: number } {
  const t0 = Date.now();
  const r = cp.spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - t0) / 1000 };
}

/** The sweep folder a CLI output names. */
export const sweepDirOf = (out: string): string => {
  const m = /sweep folder: (\S+)/.exec(out);
  assert.ok(m, out);
  return m[1];
};

/** Starts a one-node Slurm in a fresh folder; its environment (SLURM_CONF) and how to remove it. */
export function startSlurm(): { env: NodeJS.ProcessEnv; stop(): void } {
  const clusterDir = tempDir('distill-slurm-');
  const port = String(20000 + (process.pid % 20000));
  const started = cp.spawnSync('bash', [START, clusterDir], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SLURM_LOCAL_PORT: port, SLURM_LOCAL_DEADLINE: '60' } });
  const stop = (): void => { cp.spawnSync('bash', [STOP, clusterDir, '--remove'], { encoding: 'utf8', timeout: 120_000 }); };
  if (started.status !== 0) {
    stop();
    assert.fail(`start-local.sh failed: ${started.stdout}\n${started.stderr}`);
  }
  return { env: { SLURM_CONF: path.join(clusterDir, 'slurm.conf') }, stop };
}
