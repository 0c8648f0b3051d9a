/**
 * `distill`: the engine, headless. Same run folders as the extension.
 *
 *   distill run <experiment.distill.json> [--backend auto|tensorflow|wasm|cpu] [--runs-dir DIR] [--python PATH] [--processes N]
 *   distill resume <run-folder> [--backend ...] [--python PATH] [--processes N]
 *   distill list [experiment | sweep-folder | runs-dir | run-folder]
 *   distill inspect <model.json | experiment.distill.json>
 */
import { quantizedVariantLines, quantizedVariantRows } from './quantizedRows';
import { describeDataFree } from './dataFreeLine';
import * as fs from 'fs';
import * as path from 'path';
import type { BackendName } from '../config/types';
import { ExperimentError, formatConfigError } from '../config/parse';
import type { EngineToHost } from '../protocol/engine';
import { EngineConfigError, probeEngine, runInEngine } from './engineClient';
import type { Report } from '../runs/report';
import { readJson, readRun } from '../runs/store';
import { diskFaultMessage, guardWrite, isDiskFault } from '../runs/diskFaults';
import { listText } from './list';
import { guardOutput } from './output';
import { worstClassesTable } from './perClass';
import { ProgressBar } from './progress';
import { bytes, human, pct, table, warningLines } from './format';
import { latencyExplanation } from '../runs/latencyNote';
import { runEngine } from '../runs/engineLabel';
import { verdict } from '../runs/verdict';

const USAGE = `distill — knowledge-distillation experiments (Distill Studio engine)

usage:
  distill run <experiment.distill.json> [--backend auto|tensorflow|wasm|cpu] [--runs-dir DIR] [--python PATH] [--processes N] [--export JOB --to DIR]
  distill resume <run-folder> [--backend ...] [--python PATH] [--processes N]
  distill list [experiment.distill.json | sweep-folder | runs-dir | run-folder]
                                                           (default: ./.distill/runs and ./.distill/sweeps;
                                                           an experiment: its runs and its sweeps' runs;
                                                           a sweep's runs are marked with the sweep and point)
  distill inspect <model.json | experiment.distill.json>   (teacher vs student layer by layer, no training)
  distill sweep <experiment.distill.json> [--yes] [--max-points N] [--sweeps-dir DIR] [--backend ...] [--python PATH]
                 [--executor local|slurm] [--parallel N] [--partition P --time T --cpus-per-task N --gpus-per-task N --memory-mb MB]
                                                           (local: N points at once, default cores / CPUs per point;
                                                           slurm: one job array, resources from "cluster" or the flags;
                                                           a search: each rung so, one array per rung)
  distill sweep-resume <sweep-folder> [--executor ...] [--backend ...] [--python PATH]
                                                           (only what did not complete; default: the sweep's executor)
  distill sweep-point <sweep-folder> <index> [--backend ...] [--python PATH]
                                                           (exactly one point, e.g. a Slurm array task)
  distill sweep-report <sweep-folder> [--json]            (size vs accuracy, Pareto front)
  distill suggest-pairs <experiment.distill.json>
  distill check <experiment.distill.json> [--json] [--python PATH]
                                                           (validator + data + models + layer pairs)
  distill export <run-folder> <dest-folder> [--job JOB | --int8]
                                                           (default: the exported distilled student; --int8 or
                                                           --job int8: its int8 copy with FORMAT.md; --job int4,
                                                           int4-qat, int8-qat: the other quantised copies)

--python PATH: the interpreter of the torch engine ("engine": "torch"; PyTorch ≥ 1.13). Default: DISTILL_PYTHON,
else the first of python3, /usr/bin/python3, python that imports torch.
--processes N: a data-parallel torch run with N processes (DistributedDataParallel-style, gloo on CPU, nccl on
CUDA; training.batchSize is the global batch); overrides the experiment's "distributed": { "processes": N }.

Ctrl-C stops a run cleanly (checkpoint, status cancelled); 'distill resume' continues it.`;

interface Args { positional: string[]; flags: Record<string, string> }

/** Flags that take no value (so `export --int8 <run> <dest>` keeps its positionals). */
const SWITCHES = new Set(['yes', 'json', 'int8', 'help']);

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      if (v !== undefined) flags[k] = v;
      else if (!SWITCHES.has(k) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[k] = argv[++i];
      else flags[k] = 'true';
    } else {
      positional.push(a);
    }
  }
  return { positional, flags };
}

const BACKENDS: BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

function backendFlag(flags: Record<string, string>): BackendName | undefined {
  const b = flags.backend;
  if (b === undefined) return undefined;
  if (!BACKENDS.includes(b as BackendName)) throw new UsageError(`--backend: expected one of ${BACKENDS.join(', ')}, found "${b}"`);
  return b as BackendName;
}

class UsageError extends Error {}

/** `--python PATH` (the torch engine's interpreter), as a StartRequest / probe field. */
function pythonFlag(flags: Record<string, string>): { python?: string } {
  const p = flags.python;
  if (p === undefined) return {};
  if (p === 'true' || p.trim() === '') throw new UsageError('--python: give the path of a Python interpreter with PyTorch ≥ 1.13');
  return { python: p.includes(path.sep) || p.startsWith('.') ? path.resolve(p) : p };
}

/** `--processes N` (a data-parallel torch run), as a StartRequest field. */
function processesFlag(flags: Record<string, string>): { processes?: number } {
  const p = flags.processes;
  if (p === undefined) return {};
  const n = Number(p);
  if (!/^[0-9]+$/.test(p) || !Number.isInteger(n) || n < 1) throw new UsageError(`--processes: expected a whole number of processes ≥ 1, found "${p}"`);
  return { processes: n };
}

async function cmdRun(args: Args, resume: boolean): Promise<number> {
  const target = args.positional[1];
  if (!target) throw new UsageError(resume ? 'resume: give a run folder' : 'run: give an experiment file');
  const bar = new ProgressBar();
  let stopRequests = 0;
  let stop = (): void => undefined;
  const onSigint = () => {
    stopRequests++;
    if (stopRequests === 1) {
      bar.log('stopping: finishing the current step and writing a checkpoint (Ctrl-C again to quit at once)');
      stop();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const emit = (m: EngineToHost) => {
    switch (m.type) {
      case 'progress': bar.update(m); break;
      case 'started': bar.log(`run folder: ${m.runDir}\n${m.engine === 'torch' ? `engine: torch, device: ${m.backend}` : `backend: ${m.backend}`}`); break;
      case 'log': if (m.level !== 'debug') bar.log(`${m.level === 'info' ? '' : m.level + ': '}${m.message}`); break;
      case 'epoch': {
        const e = m.metrics;
        bar.log(`${m.job} epoch ${m.epoch}: loss ${e['loss.total']?.toFixed(4)}  train ${pct(e.trainAcc)}  ` +
          `${e.valAcc !== undefined ? `val ${pct(e.valAcc)}  ` : ''}test ${pct(e.testAcc)} (${e.testErrors} errors)` +
          `${e.agreement !== undefined ? `  agreement ${pct(e.agreement)}` : ''}  ${e.seconds.toFixed(1)} s`);
        break;
      }
      default: break;
    }
  };
  const backend = backendFlag(args.flags);
  const engine = runInEngine({
    ...(resume ? { resume: path.resolve(target) } : { experiment: path.resolve(target) }),
    ...(args.flags['runs-dir'] ? { runsDir: path.resolve(args.flags['runs-dir']) } : {}),
    ...(backend ? { backend } : {}),
    ...pythonFlag(args.flags),
    ...processesFlag(args.flags),
  }, emit);
  stop = engine.stop;
  const result = await engine.result;
  bar.done();
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  if (result.status === 'failed') {
    // refused before a run folder existed: the located message (the experiment's), or why (a lock, a full disk)
    if (result.kind === 'config') console.error(result.error);
    else if (!result.runDir) console.error(`distill: ${result.error}`);
    else console.error(`run failed: ${result.error}\nrun folder (kept, resumable): ${result.runDir}`);
    return 1;
  }
  if (result.status === 'cancelled') {
    console.log(`run stopped; resume with:\n  distill resume ${result.runDir}`);
    return 130;
  }
  const runDir = result.runDir!;
  const ran = runEngine(readRun(runDir));
  console.log('\n' + summaryTable(readJson<Report>(path.join(runDir, 'report.json')), ran.engine === 'torch' ? `the torch engine on ${ran.where ?? '?'}` : undefined));
  console.log(`\nrun folder: ${runDir}`);
  if (args.flags.export) {
    if (!args.flags.to) throw new UsageError('--export JOB needs --to DIR');
    exportModel(runDir, args.flags.export, args.flags.to);
  }
  return 0;
}

/**
 * Copies a job's final model (or the exported student, or with `int8` / `--job int8` the int8 copy of
 * the exported student with its FORMAT.md) out of a run folder; never overwrites.
 */
function exportModel(runDir: string, job: string | undefined, dest: string, int8 = false): void {
  // issue 18: `--job int4`, `int4-qat`, `int8-qat` copy the other quantised copies in student/ the same way.
  const copyName = int8 ? 'int8' : job && /^int[48](-qat)?$/.test(job) ? job : undefined;
  const wantInt8 = copyName !== undefined;
  if (int8 && job !== undefined && job !== 'int8') {
    throw new UsageError(`--int8: the int8 copy is of the exported student only; leave out --job ${job}`);
  }
  const src = copyName ? path.join(runDir, 'student', copyName) : job ? path.join(runDir, 'models', job) : path.join(runDir, 'student');
  const files = ['model.json', 'weights.bin', ...(wantInt8 ? ['FORMAT.md'] : [])];
  if (!fs.existsSync(path.join(src, 'model.json'))) {
    if (runEngine(readRun(runDir)).engine === 'torch') {
      // issue 14: a torch run's models are PyTorch files (state_dict, TorchScript, ONNX), not TF.js ones.
      throw new Error(`${runDir} was trained by the torch engine: its student is in ${path.join(runDir, 'student')} (state_dict, TorchScript and ONNX files) and each job's final model in models/<job>/; copy them from there (export writes TF.js models only)`);
    }
    const jobs = fs.existsSync(path.join(runDir, 'models')) ? fs.readdirSync(path.join(runDir, 'models')).join(', ') : 'none';
    const int8Note = fs.existsSync(path.join(runDir, 'student', 'int8', 'model.json')) ? '; the int8 student: --int8' : '';
    throw new Error(`${src}: no model to export (jobs with a final model: ${jobs}${int8Note})`);
  }
  fs.mkdirSync(dest, { recursive: true });
  for (const f of files) {
    const target = path.join(dest, f);
    if (fs.existsSync(target)) throw new Error(`${target} exists; remove it first (export never overwrites)`);
  }
  copyExport(src, dest, files);
  console.log(`exported ${copyName ? `${copyName} student (format described in FORMAT.md)` : job ?? 'student'} → ${path.resolve(dest)}`);
}

/** Copies the files of an export; on a full disk (or a permission fault) removes what it copied and says which file. */
function copyExport(src: string, dest: string, names: string[]): void {
  const copied: string[] = [];
  try {
    for (const f of names) {
      const target = path.join(dest, f);
      guardWrite(target, fs.statSync(path.join(src, f)).size, () => fs.copyFileSync(path.join(src, f), target, fs.constants.COPYFILE_EXCL));
      copied.push(target);
    }
  } catch (e) {
    for (const t of copied) fs.rmSync(t, { force: true });
    if (isDiskFault(e)) {
      const partial = path.join(dest, names[copied.length]);
      if (fs.existsSync(partial)) fs.rmSync(partial, { force: true }); // the partial copy of the file that failed (EXCL: it was ours)
      throw new Error(`${diskFaultMessage(e)}; nothing was exported`);
    }
    throw e;
  }
}

/** The final table: teacher, scratch student, distilled student. */
export function summaryTable(r: Report, backendLabel?: string): string {
  const pm = (s: { mean: number; std: number; n: number } | undefined, f: (x: number) => string) =>
    !s ? '—' : s.n > 1 ? `${f(s.mean)} ± ${f(s.std)}` : f(s.mean);
  const ms = (x: number) => `${x.toFixed(3)} ms`;
  const rows = [
    ['model', 'test acc', 'errors', 'agreement', 'params', 'bytes', 'FLOPs/sample', 'latency/sample'],
  ];
  if (r.teacher) {
    const teacherName = `teacher${r.teacher.format ? ' (int8)' : ''}${(r.warnings ?? []).some((w) => w.kind.startsWith('teacher-')) ? ' ⚠' : ''}`;
    rows.push([teacherName, pct(r.teacher.testAcc), String(r.teacher.testErrors), '—', human(r.teacher.params), bytes(r.teacher.bytes),
      human(r.teacher.flops), ms(r.teacher.latencyMsPerSample)]);
  }
  for (const kind of ['scratch', 'distill'] as const) {
    const s = r.summary[kind];
    if (!s) continue;
    rows.push([kind === 'scratch' ? 'student (scratch)' : 'student (distilled)', pm(s.testAcc, (x) => pct(x)),
      pm(s.testErrors, (x) => x.toFixed(s.testErrors.n > 1 ? 1 : 0)), pm(s.agreement, (x) => pct(x)),
      human(r.student.params), bytes(r.student.bytes), human(r.student.flops), ms(r.student.latencyMsPerSample)]);
  }
  const q = r.quantized;
  if (q) {
    rows.push(['student (distilled, int8)', pct(q.testAcc), String(q.testErrors), pct(q.agreement), human(r.student.params), bytes(q.bytes),
      human(r.student.flops), '—']);
  }
  rows.push(...quantizedVariantRows(r)); // issue 18
  const lines = [table(rows)];
  const n = r.summary.distill?.testAcc.n ?? 0;
  lines.push(`\n${n} seed${n === 1 ? '' : 's'}, last epoch, ${r.testSize} test samples, scheme ${r.scheme}, ${backendLabel ?? `backend ${r.backend}`}.` +
    (r.compression ? ` Compression: ${r.compression.params.toFixed(1)}× fewer parameters, ${r.compression.flops.toFixed(1)}× fewer FLOPs, ` +
      `${r.compression.speedup.toFixed(1)}× faster per sample` +
      (r.compression.speedupBatch !== undefined && r.student.latencyBatch ? ` (${r.compression.speedupBatch.toFixed(1)}× at batch ${r.student.latencyBatch.batch})` : '') + '.' : ''));
  // issue 20: why the speed-up at batch 1 lags the FLOPs
  const why = r.compression ? latencyExplanation({ flopsRatio: r.compression.flops, speedup: r.compression.speedup, speedupBatch: r.compression.speedupBatch, batch: r.student.latencyBatch?.batch }) : undefined;
  if (why) lines.push(why);
  if (q) {
    lines.push(`int8 student (${q.dir}: per-channel int8 weights, float activations; the exported seed): ${q.compression.toFixed(2)}× smaller ` +
      `than float32, test accuracy ${pct(q.testAcc)} vs ${pct(q.floatTestAcc)} float (${q.accDrop >= 0 ? '−' : '+'}${Math.abs(q.accDrop * 100).toFixed(2)} points).`);
  }
  lines.push(...quantizedVariantLines(r)); // issue 18
  if (r.dataFree) lines.push(describeDataFree(r.dataFree, r.summary.distill?.testAcc.mean, r.summary.scratch?.testAcc.mean) + '.');

  if (r.summary.scratch && r.summary.distill) {
    const gain = (r.summary.distill.testAcc.mean - r.summary.scratch.testAcc.mean) * 100;
    lines.push(`Distillation vs scratch: ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points of test accuracy ` +
      `(${r.summary.scratch.testErrors.mean.toFixed(1)} → ${r.summary.distill.testErrors.mean.toFixed(1)} errors).`);
  }
  // issue 20: the verdict, flagged when distillation lost to scratch or is within noise
  const v = verdict(r);
  if (v) lines.push(`Verdict: ${v.headline}.`, `${v.flagged ? '⚠ ' : ''}${v.note}.`);
  // Teacher health (issue 13): the report's warnings, with their likely causes.
  if (r.warnings?.length) lines.push('', ...warningLines(r.warnings));
  const worst = worstClassesTable(r); // issue 16: per-class results
  if (worst) lines.push(`\n${worst}`);
  return lines.join('\n');
}

function cmdList(args: Args): number {
  console.log(listText(args.positional[1]));
  return 0;
}

async function cmdInspect(args: Args): Promise<number> {
  const target = args.positional[1];
  if (!target) throw new UsageError('inspect: give a model.json or an experiment file');
  const backend = backendFlag(args.flags);
  console.log((await probeEngine({ kind: 'inspect', target: path.resolve(target), ...(backend ? { backend } : {}) })).text);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const cmd = args.positional[0] ?? (args.flags.help === 'true' ? 'help' : undefined);
  try {
    switch (cmd) {
      case 'run': return await cmdRun(args, false);
      case 'resume': return await cmdRun(args, true);
      case 'list': return cmdList(args);
      case 'inspect': return await cmdInspect(args);
      case 'sweep-point': {
        const [, target, index] = args.positional;
        if (!target || index === undefined || !/^\d+$/.test(index)) throw new UsageError('sweep-point: give a sweep folder and a point index (0, 1, …)');
        const { cmdSweepPoint } = await import('./sweep');
        return await cmdSweepPoint({ target, backend: backendFlag(args.flags), ...pythonFlag(args.flags) }, Number(index));
      }
      case 'sweep': case 'sweep-resume': case 'sweep-report': {
        const target = args.positional[1];
        if (!target) throw new UsageError(`${cmd}: give ${cmd === 'sweep' ? 'an experiment file' : 'a sweep folder'}`);
        const maxPoints = args.flags['max-points'] === undefined ? undefined : Number(args.flags['max-points']);
        if (maxPoints !== undefined && !(Number.isInteger(maxPoints) && maxPoints >= 1)) {
          throw new UsageError(`--max-points: expected an integer ≥ 1, found "${args.flags['max-points']}"`);
        }
        const { cmdSweep, cmdSweepReport } = await import('./sweep');
        const { executorFlags, SweepFlagError } = await import('./sweepExecutors');
        let ex;
        try {
          ex = executorFlags(args.flags);
        } catch (e) {
          throw e instanceof SweepFlagError ? new UsageError(e.message) : e;
        }
        const a = { target, backend: backendFlag(args.flags), ...pythonFlag(args.flags), yes: args.flags.yes === 'true', maxPoints, sweepsDir: args.flags['sweeps-dir'], json: args.flags.json === 'true', ...ex };
        return cmd === 'sweep-report' ? await cmdSweepReport(a) : await cmdSweep(a, cmd === 'sweep-resume');
      }
      case 'check': {
        if (!args.positional[1]) throw new UsageError('check: give an experiment file');
        const backend = backendFlag(args.flags);
        const errors = await probeEngine({ kind: 'check', experimentFile: path.resolve(args.positional[1]), ...(backend ? { backend } : {}), ...pythonFlag(args.flags) });
        if (args.flags.json) console.log(JSON.stringify(errors));
        else console.log(errors.length ? errors.map(formatConfigError).join('\n') : `${args.positional[1]}: no problems`);
        return errors.some((e) => e.severity === 'error') ? 1 : 0;
      }
      case 'suggest-pairs': {
        if (!args.positional[1]) throw new UsageError('suggest-pairs: give an experiment file');
        const backend = backendFlag(args.flags);
        console.log((await probeEngine({ kind: 'suggestText', experimentFile: path.resolve(args.positional[1]), ...(backend ? { backend } : {}) })).text);
        return 0;
      }
      case 'export': {
        const [, runDir, dest] = args.positional;
        if (!runDir || !dest) throw new UsageError('export: give a run folder and a destination folder');
        exportModel(runDir, args.flags.job, dest, args.flags.int8 === 'true');
        return 0;
      }
      case 'status': {
        const run = readRun(args.positional[1] ?? '.');
        console.log(JSON.stringify(run, null, 2));
        return 0;
      }
      case undefined: case 'help': case '--help': case '-h':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`distill: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof ExperimentError || e instanceof EngineConfigError) {
      console.error(e.message);
      return 1;
    }
    console.error(`distill: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  guardOutput(); // a closed stdout/stderr ends the output, not the run (src/cli/output.ts)
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
