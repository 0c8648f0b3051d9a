/**
 * One experiment run, start to end: validate, pick the backend, load data and models, check every
 * layer pair against the models, then run the scheme's jobs in order — the teacher when it is
 * trained first, and per seed the scratch baseline and the distilled student(s) — export the
 * student and write the report. Every step is recorded in the run folder, so a run that was
 * stopped or killed continues from where its files say it was.
 *
 * Jobs per scheme:
 *   offline     teacher? · scratch-s · distill-s                     (distill taught by the teacher)
 *   born-again  teacher? · scratch-s · born-g1-s · born-g2-s · …     (generation g+1 taught by g)
 *   ta-chain    teacher? · scratch-s · ta1-s · … · distill-s         (each taught by the previous)
 *   online      scratch-s · online-s                                 (teacher + students trained together)
 *   self        scratch-s · self-s                                   (the student with auxiliary heads)
 *   data-free   synthesize · scratch-s · distill-s · real-s          (data.train teacher-synthesized: synthesis/dataFree.ts)
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, ExperimentConfig, StudentSpec } from '../config/types';
import { ExperimentError, loadExperiment, loadExperimentText } from '../config/parse';
import type { EngineToHost } from '../protocol/engine';
import { initBackend } from './backend';
import { prepareData } from './data';
import { locateDataError } from './data/locate';
import type { PreparedData } from './data';
import { evaluateLogits, modelInputShape, outputWidth, predictLogits } from './training/evaluate';
import { locateDeriveError, resolveModel, writeStudentArchitecture } from './models';
import { loadLayersModelFromFile, saveLayersModel } from './models/fileIO';
import { ProgressClock, stepsPerEpoch, trainJob } from './training/train';
import type { JobState, RunJson, RunStatus } from '../runs/store';
import { createRun, defaultRunsDir, MetricsLog, readRun, readSnapshot, updateRun } from '../runs/store';
import { buildReport, quantizedFigures, readEpochRecords } from './results/report';
import { checkModels } from './check';
import { runBudgetMessages } from './training/budget';
import type { ReportWarning } from '../runs/report';
import { describeWarning, teacherBelowScratchWarning, teacherContext } from './results/teacherHealth';
import { discriminatorWinsWarning } from './results/adversarialHealth';
import { modelLabel, modelSpec, planJobs } from './training/jobs';
import { TeacherSource } from './training/teacherSource';
import { TeacherPipe } from './models/teacherPipe';
import { LEARNERS } from './schemes/learners';
import type { JobLearner } from './schemes/learners';
import type { FolderLock } from '../runs/lock';
import { lockRun } from '../runs/lock';
import { dirBytes, DiskFaultError, diskFaultMessage, guardWrite, isDiskFault, removeTempFiles } from '../runs/diskFaults';
import { recordRunFailure } from './runs/runFailure';
import { preflightRun } from './preflight';
import { engineOf } from '../config/engineRules';
import { runTorch } from './torch/bridge';
import { withFakeQuant } from './training/qat';
import { quantizedVariants } from './results/quantizedVariants';
import { DataFreeSession, dataFreeReport, dataFreeStepsPerEpoch } from './synthesis/dataFree';

export { defaultRunsDir, planJobs };

export interface RunOptions {
  /** The experiment file to run (a new run folder is created). */
  experiment?: string;
  /** An existing run folder to continue. */
  resume?: string;
  /** The experiment's text, when it is not the file on disk (a sweep point); paths resolve against `experiment`. */
  experimentText?: string;
  /** Root of run folders; default `<experiment dir>/.distill/runs`. */
  runsDir?: string;
  /** Overrides the experiment's `backend`. */
  backend?: BackendName;
  emit?: (msg: EngineToHost) => void;
  shouldStop?: () => boolean;
  /**
   * Run a fixed teacher's forward passes in a worker thread too (the wasm and cpu backends compute
   * on one core; tfjs-node uses them all and never gets one). Default: on, unless the environment
   * sets DISTILL_TEACHER_THREAD=0.
   */
  teacherThread?: boolean;
  /** The Python of the torch engine (`"engine": "torch"`); default: DISTILL_PYTHON, else the first of python3, /usr/bin/python3, python with torch. */
  python?: string;
  /** issue 15: `--processes N`, a data-parallel torch run (overrides `distributed.processes`); refused for the TF.js engine. */
  processes?: number;
}

export interface RunResult {
  runDir: string;
  status: RunStatus;
  error?: string;
}

/**
 * Runs an experiment (or resumes a run). Training failures end in `failed`, they do not throw.
 * Throws, before any run folder exists, for an invalid experiment or a data / model problem
 * (ExperimentError, located as `distill check` locates it), and for a run another live process
 * owns (FolderLockedError: "run … is being trained by pid N since …"). The run folder is locked
 * for this process from its creation (or from the start of a resume) to the end.
 */
export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const held: { lock?: FolderLock; runDir?: string } = {};
  try {
    return await runExperimentLocked(opts, held);
  } catch (e) {
    // A disk fault before training (creating the folder, taking it, recording the resume).
    if (!isDiskFault(e)) throw e;
    throw new DiskFaultError(`${diskFaultMessage(e, held.runDir)}; ${held.runDir ? `run ${path.basename(held.runDir)} was not resumed` : 'no run folder was created'}`, e.code!);
  } finally {
    held.lock?.release();
  }
}

async function runExperimentLocked(opts: RunOptions, held: { lock?: FolderLock; runDir?: string }): Promise<RunResult> {
  const emit = opts.emit ?? (() => undefined);
  const shouldStop = opts.shouldStop ?? (() => false);
  let runDir: string;
  let config: ExperimentConfig;
  let experimentFile: string;
  let experimentText: string;
  let preflight: PreparedData | undefined;

  if (opts.resume) {
    runDir = path.resolve(opts.resume);
    readRun(runDir); // not a run folder: said before anything else
    // issue 14: a torch run is continued by its own engine (src/engine/torch/bridge.ts).
    if (snapshotEngine(runDir) === 'torch') return runTorch({ resume: runDir, python: opts.python, processes: opts.processes, emit, shouldStop });
    if (opts.processes !== undefined && opts.processes > 1) throw new Error(`--processes ${opts.processes}: data-parallel runs need the torch engine; ${runDir} is a TF.js run`);
    held.runDir = runDir;
    held.lock = lockRun(runDir, emit);
    // Ours now: temporary files left by a writer that died (a kill, a full or read-only disk) go.
    const stale = removeTempFiles(runDir);
    if (stale.length) emit({ type: 'log', level: 'info', message: `removed temporary files left by an interrupted write: ${stale.join(', ')}` });
    const run = readRun(runDir);
    if (run.status === 'completed') {
      emit({ type: 'log', level: 'info', message: `${runDir}: already completed; nothing to resume` });
      return { runDir, status: 'completed' };
    }
    const snap = readSnapshot(runDir);
    ({ config, experimentFile, experimentText } = snap);
    new MetricsLog(runDir).append({ type: 'event', event: 'resume', message: `resumed from status ${run.status}`, t: new Date().toISOString() });
    updateRun(runDir, (r) => {
      r.resumes.push(new Date().toISOString());
      r.error = undefined;
    });
  } else {
    if (!opts.experiment) throw new Error('runExperiment: give an experiment file or a run folder to resume');
    experimentFile = path.resolve(opts.experiment);
    const loaded = opts.experimentText !== undefined ? loadExperimentText(experimentFile, opts.experimentText) : loadExperiment(experimentFile);
    if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) throw new ExperimentError(loaded.errors);
    config = loaded.config;
    experimentText = loaded.text ?? '';
    const runsDir = opts.runsDir ? path.resolve(opts.runsDir) : defaultRunsDir(experimentFile);
    // issue 14: `"engine": "torch"` runs in Python (src/engine/torch/bridge.ts); the same folder, messages and result.
    if (engineOf(config) === 'torch') {
      if (opts.backend && opts.backend !== 'auto') emit({ type: 'log', level: 'warn', message: `backend "${opts.backend}" is the TF.js engine's (--backend, distill.backend): the torch engine trains where "device" says` });
      return runTorch({ experimentFile, experimentText, config, runsDir, python: opts.python, processes: opts.processes, emit, shouldStop });
    }
    if (opts.processes !== undefined && opts.processes > 1) {
      throw new Error(`--processes ${opts.processes}: data-parallel runs need the torch engine; set "engine": "torch" in ${experimentFile}`);
    }
    // Pre-flight (what `distill check` does): bad data or models are refused before the folder exists.
    preflight = await preflightRun(experimentFile, experimentText, config, opts.backend ?? config.backend, runsDir, emit);
    runDir = createRun(runsDir, { experimentFile, experimentText, config }, planJobs(config));
    try {
      held.lock = lockRun(runDir, emit);
    } catch (e) {
      fs.rmSync(runDir, { recursive: true, force: true }); // no room even for the lock: no half-made run left
      throw e;
    }
    new MetricsLog(runDir).append({ type: 'event', event: 'start', t: new Date().toISOString() });
  }
  emit({ type: 'started', runDir, runId: path.basename(runDir), backend: opts.backend ?? config.backend });

  try {
    const backend = await initBackend(opts.backend ?? config.backend);
    updateRun(runDir, (r) => {
      r.status = 'running';
      r.pid = process.pid;
      r.pidStart = held.lock?.owner.pidStart;
      r.host = held.lock?.owner.host;
      r.startedAt = r.startedAt ?? new Date().toISOString();
      r.backend = { name: backend.name, versions: backend.versions, notes: backend.notes, customKernels: backend.customKernels };
      r.versions = { node: process.version, ...backend.versions };
    });
    emit({ type: 'log', level: 'info', message: `backend: ${backend.name}` });
    for (const n of backend.notes) emit({ type: 'log', level: 'info', message: `backend: ${n}` });
    const teacherThread = (opts.teacherThread ?? process.env.DISTILL_TEACHER_THREAD !== '0') ? TeacherPipe.threadBackend(backend.name) : undefined;
    const session = new RunSession(runDir, config, experimentFile, experimentText, emit, shouldStop, teacherThread, preflight);
    const status = await session.execute();
    updateRun(runDir, (r) => {
      r.status = status;
      if (status === 'completed') r.finishedAt = new Date().toISOString();
    });
    new MetricsLog(runDir).append({ type: 'event', event: status === 'completed' ? 'job-done' : 'stop', message: status, t: new Date().toISOString() });
    emit({ type: 'done', runDir, status });
    return { runDir, status };
  } catch (e) {
    return recordRunFailure(runDir, e, emit); // a full disk: said as such, temporary files removed
  }
}

/** The engine a run folder's snapshot names; tfjs when it cannot be read (the TF.js path then says why, as before). */
function snapshotEngine(runDir: string): 'tfjs' | 'torch' {
  try {
    return engineOf(readSnapshot(runDir).config);
  } catch {
    return 'tfjs';
  }
}

/** A fixed teacher's outputs on disk: its header file, reading and writing them. */
/** Everything one execution of a run holds: data, the teacher, cached logits, the clock. */
class RunSession {
  private readonly baseDir: string;
  private data!: PreparedData;
  private readonly metrics: MetricsLog;
  private readonly clock = new ProgressClock(0, 0);
  /** The fixed teachers of this execution and their caches (set once the data is loaded). */
  private teachers?: TeacherSource;
  /** Warnings of this execution for report.json (teacherHealth.ts), by kind. */
  private readonly warnings = new Map<string, ReportWarning>();
  /** issue 18: a data-free run's jobs, data and synthesis (synthesis/dataFree.ts). */
  private dataFree?: DataFreeSession;

  constructor(private readonly runDir: string, private readonly config: ExperimentConfig, private readonly experimentFile: string,
    private readonly experimentText: string, private readonly emit: (m: EngineToHost) => void, private readonly shouldStop: () => boolean,
    /** The backend of the teacher thread, when fixed teachers use one. */
    private readonly teacherThread?: 'wasm' | 'cpu',
    /** The data the pre-flight prepared (and checked the models against) for a new run. */
    private readonly preflight?: PreparedData) {
    this.baseDir = path.dirname(experimentFile);
    this.metrics = new MetricsLog(runDir);
  }

  private log(message: string): void {
    this.emit({ type: 'log', level: 'info', message });
  }

  /** Logs a warning once (per kind) and keeps it for report.json. */
  private warn(w: ReportWarning | undefined): void {
    if (!w || this.warnings.has(w.kind)) return;
    this.warnings.set(w.kind, w);
    this.emit({ type: 'log', level: 'warn', message: describeWarning(w) });
  }

  /** The spec of an architecture named in a job (`teacher`, `student`, `assistant:<i>`). */
  private spec(model: string | undefined): StudentSpec {
    return modelSpec(this.config, model);
  }

  private who(model: string | undefined): string {
    return modelLabel(this.config, model);
  }

  /** Runs the remaining jobs and the report; the fixed teachers are released however it ends. */
  async execute(): Promise<'completed' | 'cancelled'> {
    try {
      return await this.executeJobs();
    } finally {
      this.dataFree?.dispose();
      this.teachers?.dispose();
    }
  }

  private async executeJobs(): Promise<'completed' | 'cancelled'> {
    const { config } = this;
    this.log('loading data');
    this.data = this.preflight ?? (() => {
      try {
        return prepareData(config.data, this.baseDir);
      } catch (e) {
        throw locateDataError(e, this.experimentFile, this.experimentText);
      }
    })();
    const d = this.data;
    for (const note of d.notes ?? []) this.log(note);
    if (d.classNames) updateRun(this.runDir, (r) => { r.classNames = d.classNames; });
    this.log(`data: train ${d.train.size}, validation ${d.validation?.size ?? 0}, test ${d.test.size}, ${d.numClasses} classes, samples [${d.shape.join(', ')}]`);
    this.teachers = new TeacherSource({
      runDir: this.runDir, config, baseDir: this.baseDir, data: d, teacherThread: this.teacherThread,
      log: (m) => this.log(m), warn: (w) => this.warn(w),
    });
    if (d.dataFree) {
      this.dataFree = new DataFreeSession({
        runDir: this.runDir, config, baseDir: this.baseDir, base: d, teachers: this.teachers, metrics: this.metrics, clock: this.clock,
        emit: this.emit, shouldStop: this.shouldStop,
        makeTeachers: (data, keyed) => new TeacherSource({ runDir: this.runDir, config: keyed, baseDir: this.baseDir, data, teacherThread: this.teacherThread,
          log: (m) => this.log(m), warn: (w) => this.warn(w) }),
      });
    }
    await this.checkModels();

    const run = readRun(this.runDir);
    for (const j of Object.values(run.jobs)) {
      const training = j.kind === 'teacher' && config.teacher?.train ? config.teacher.train : config.training;
      const steps = d.dataFree ? dataFreeStepsPerEpoch(config, j, d) : stepsPerEpoch(d.train.size, training);
      this.clock.totalSteps += j.epochs * steps;
      this.clock.doneSteps += j.completedEpochs * steps;
    }
    // Budget sanity (issue 13, budget.ts): batchSize vs the data, estimated training time — before the first step.
    for (const m of await runBudgetMessages(config, run.jobs, d, (model) => resolveModel(this.spec(model), this.baseDir, config.seeds[0]), (model) => this.who(model))) {
      this.emit({ type: 'log', level: m.level, message: m.message });
    }

    for (const [job, state] of Object.entries(readRun(this.runDir).jobs)) {
      if (state.status === 'completed') continue;
      if (this.shouldStop()) return 'cancelled';
      const status = await this.runJob(job, state);
      if (status === 'cancelled') return 'cancelled';
    }

    const epochs = readEpochRecords(this.runDir); // metrics.jsonl, read once for every part of the report
    const report = await this.withReportTeacher((teacher, input, evalFig) =>
      buildReport(this.runDir, config, teacher, input, evalFig, this.data, epochs));
    exportStudent(this.runDir, report.exportedJob);
    report.quantized = await quantizedFigures(this.runDir, this.data, this.teachers!.get('teacher')?.logits.test);
    this.log(`int8 student: ${report.quantized.bytes} bytes (${report.quantized.compression.toFixed(2)}× smaller), test accuracy ` +
      `${(report.quantized.testAcc * 100).toFixed(2)}% (float ${(report.quantized.floatTestAcc * 100).toFixed(2)}%)`);
    Object.assign(report, await quantizedVariants(this.runDir, config, this.data, this.teachers!.get('teacher')?.logits.test, (m) => this.log(m), report.quantized, epochs)); // issue 18
    if (report.teacher) {
      this.warn(teacherBelowScratchWarning(report.teacher.testAcc, report.summary.scratch?.testAcc,
        teacherContext(this.teachers!.get('teacher')?.model, config, this.data)));
    }
    this.warn(discriminatorWinsWarning(epochs)); // issue 18: adversarial terms
    if (this.dataFree) report.dataFree = dataFreeReport(this.runDir, config, epochs); // the CLI prints it (src/cli/dataFreeLine.ts)
    report.warnings = [...this.warnings.values()];
    const reportText = JSON.stringify(report, null, 2);
    guardWrite(path.join(this.runDir, 'report.json'), Buffer.byteLength(reportText), () => fs.writeFileSync(path.join(this.runDir, 'report.json'), reportText));
    return 'completed';
  }

  /**
   * Before any training: every architecture builds, fits the data and the classes, and every
   * layer pair and self-distillation head resolves. Problems are reported located in the
   * experiment file, all at once.
   */
  private async checkModels(): Promise<void> {
    try {
      const errors = this.preflight ? [] : await checkModels(this.config, this.experimentFile, this.experimentText, this.data,
        (model) => resolveModel(this.spec(model), this.baseDir, this.config.seeds[0]), (model) => this.who(model));
      if (errors.length) throw new ExperimentError(errors);
      const arch = await writeStudentArchitecture(this.runDir, this.config.student, this.baseDir, this.config.seeds[0]);
      if (arch) this.log(`derived student architecture: ${path.relative(this.runDir, arch)}/model.json`);
    } catch (e) {
      throw locateDeriveError(e, this.experimentFile, this.experimentText);
    }
  }

  private async runJob(job: string, state: JobState): Promise<'completed' | 'cancelled'> {
    const c = this.config;
    updateRun(this.runDir, (r) => {
      r.jobs[job].status = 'running';
    });
    if (state.kind === 'synthesize') return this.finishJob(job, await this.dataFree!.synthesize(job));
    // issue 18: a data-free run's jobs train on the synthesised inputs or on the reference.
    const d = this.dataFree?.dataFor(state) ?? this.data;
    const teachers = this.dataFree?.teachersFor(state) ?? this.teachers!;
    const model = await resolveModel(this.spec(state.model), this.baseDir, state.seed);
    const inputShape = modelInputShape(model, d.shape, this.who(state.model));
    const augment = c.data.augment && ((c.data.augment.jobs ?? 'all') === 'all' || state.kind === 'teacher') ? c.data.augment : undefined;
    let built: JobLearner;
    try {
      built = withFakeQuant(await LEARNERS[state.kind]({
        job, state, config: c, data: d, baseDir: this.baseDir, model, inputShape, numClasses: outputWidth(model), augment,
        teachers, teacherThread: Boolean(this.teacherThread), log: (m) => this.log(m), who: (m) => this.who(m),
      }), state, job); // issue 18: a qat job's student is fake-quantised (training/qat.ts)
    } catch (e) {
      model.dispose();
      throw e;
    }
    const { learner, training } = built;
    this.log(`${job}: ${learner.termNames.join(' + ')}, ${training.epochs} epochs`);
    try {
      const status = await trainJob({
        runDir: this.runDir, job, kind: state.kind, seed: state.seed, learner, data: d, training,
        metrics: this.metrics, clock: this.clock, shouldStop: this.shouldStop, augment,
        emit: (m) => {
          this.emit(m);
          if (m.type === 'epoch') teachers.saveCompleted();
        },
      });
      if (status === 'completed') {
        const dir = path.join(this.runDir, 'models', job);
        if (!fs.existsSync(dir)) await saveLayersModel(model, dir, learner.resultFiles?.());
        if (state.kind === 'online') {
          const peerDir = path.join(this.runDir, 'models', `${job}-teacher`);
          if (!fs.existsSync(peerDir)) await saveLayersModel(learner.extras[0], peerDir);
        }
      }
      return this.finishJob(job, status);
    } finally {
      learner.dispose();
      model.dispose();
    }
  }

  /** Marks a job completed (run.json, a job-done event) when it is; returns its status. */
  private finishJob(job: string, status: 'completed' | 'cancelled'): 'completed' | 'cancelled' {
    if (status === 'completed') {
      updateRun(this.runDir, (r) => {
        r.jobs[job].status = 'completed';
      });
      this.metrics.append({ type: 'event', event: 'job-done', job, t: new Date().toISOString() });
    }
    return status;
  }

  /** Calls `fn` with the model the report compares against: the teacher, or nothing (self). */
  private async withReportTeacher<T>(fn: (teacher: tf.LayersModel | undefined, input: number[], ev: ReturnType<typeof evaluateLogits> | undefined) => Promise<T>): Promise<T> {
    const c = this.config;
    if (c.scheme.kind === 'self' || !c.teacher) return fn(undefined, [], undefined);
    if (c.scheme.kind === 'online') {
      const jobs = Object.keys(readRun(this.runDir).jobs).filter((j) => j.startsWith('online-'));
      const model = await loadLayersModelFromFile(path.join(this.runDir, 'models', `${jobs[0]}-teacher`, 'model.json'));
      try {
        const input = modelInputShape(model, this.data.shape, 'teacher');
        const logits = predictLogits(model, this.data.test, input);
        return await fn(model, input, evaluateLogits(logits, this.data.test.y, outputWidth(model)));
      } finally {
        model.dispose();
      }
    }
    const t = await this.teachers!.fixedTeacher('teacher');
    return fn(t.model, t.inputShape, evaluateLogits(t.logits.test, this.data.test.y, outputWidth(t.model)));
  }
}

/** Copies the chosen distilled student's final model to `student/` (once). */
function exportStudent(runDir: string, job: string): void {
  const dest = path.join(runDir, 'student');
  if (fs.existsSync(dest)) return;
  const src = path.join(runDir, 'models', job);
  const tmp = path.join(runDir, `.tmp-student-${process.pid}`);
  guardWrite(dest, dirBytes(src), () => {
    fs.cpSync(src, tmp, { recursive: true });
    fs.writeFileSync(path.join(tmp, 'source.json'), JSON.stringify({ job }, null, 2));
  });
  fs.renameSync(tmp, dest);
}

export type { RunJson };
