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
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, ExperimentConfig, StudentSpec } from '../config/types';
import { ExperimentError, loadExperiment, loadExperimentText } from '../config/parse';
import type { EngineToHost } from '../protocol/engine';
import { initBackend } from './backend';
import { prepareData } from './data';
import type { PreparedData } from './data';
import { evaluateLogits, modelInputShape, outputWidth, predictLogits } from './evaluate';
import { buildTerms } from './knowledge/terms';
import { describeSpec, locateDeriveError, resolveModel, writeStudentArchitecture } from './models';
import type { TeacherLogits } from './models/teacherCache';
import { cachedTeacherLogits, cacheTeacherLogits, teacherKey } from './models/teacherCache';
import { dataFingerprint, readTeacherOutputs, teacherFilesHash, teacherOutputsDir, teacherOutputsKey, writeTeacherOutputs } from './models/teacherDiskCache';
import { loadLayersModelFromFile, saveLayersModel } from './models/fileIO';
import { ProgressClock, stepsPerEpoch, trainJob } from './train';
import type { Learner } from './train';
import type { JobState, RunJson, RunStatus } from './runs/store';
import { createRun, defaultRunsDir, MetricsLog, readRun, readSnapshot, updateRun } from './runs/store';
import { buildReport, quantizedFigures } from './report';
import { distillLearner, perBatchTeacherLayers } from './schemes/distill';
import type { CachedFeature, FixedTeacher } from './schemes/distill';
import { layerInfos, tapModel } from './models/taps';
import { encodeHalf } from './f16';
import { withSeededRandom } from './random';
import { onlineLearner } from './schemes/online';
import { selfLearner } from './schemes/self';
import { checkModels } from './check';
import { runBudgetMessages } from './budget';
import type { ReportWarning } from './teacherHealth';
import { describeWarning, teacherAtLoad, teacherBelowScratchWarning, teacherContext } from './teacherHealth';
import { modelLabel, modelSpec, planJobs } from './jobs';
import { predictLogitsShared, TeacherPipe } from './models/teacherPipe';

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
}

export interface RunResult {
  runDir: string;
  status: RunStatus;
  error?: string;
}

/** Runs an experiment (or resumes a run). Training failures end in `failed`, they do not throw. */
export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const emit = opts.emit ?? (() => undefined);
  const shouldStop = opts.shouldStop ?? (() => false);
  let runDir: string;
  let config: ExperimentConfig;
  let experimentFile: string;
  let experimentText: string;

  if (opts.resume) {
    runDir = path.resolve(opts.resume);
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
    runDir = createRun(runsDir, { experimentFile, experimentText, config }, planJobs(config));
    new MetricsLog(runDir).append({ type: 'event', event: 'start', t: new Date().toISOString() });
  }
  emit({ type: 'started', runDir, runId: path.basename(runDir), backend: opts.backend ?? config.backend });

  try {
    const backend = await initBackend(opts.backend ?? config.backend);
    updateRun(runDir, (r) => {
      r.status = 'running';
      r.pid = process.pid;
      r.startedAt = r.startedAt ?? new Date().toISOString();
      r.backend = { name: backend.name, versions: backend.versions, notes: backend.notes, customKernels: backend.customKernels };
      r.versions = { node: process.version, ...backend.versions };
    });
    emit({ type: 'log', level: 'info', message: `backend: ${backend.name}` });
    for (const n of backend.notes) emit({ type: 'log', level: 'info', message: `backend: ${n}` });
    const teacherThread = (opts.teacherThread ?? process.env.DISTILL_TEACHER_THREAD !== '0') ? TeacherPipe.threadBackend(backend.name) : undefined;
    const session = new RunSession(runDir, config, experimentFile, experimentText, emit, shouldStop, teacherThread);
    const status = await session.execute();
    updateRun(runDir, (r) => {
      r.status = status;
      if (status === 'completed') r.finishedAt = new Date().toISOString();
    });
    new MetricsLog(runDir).append({ type: 'event', event: status === 'completed' ? 'job-done' : 'stop', message: status, t: new Date().toISOString() });
    emit({ type: 'done', runDir, status });
    return { runDir, status };
  } catch (e) {
    const error = (e as Error).message || String(e);
    updateRun(runDir, (r) => {
      r.status = 'failed';
      r.error = error;
    });
    new MetricsLog(runDir).append({ type: 'event', event: 'failed', message: error, t: new Date().toISOString() });
    emit({ type: 'failed', runDir, error });
    return { runDir, status: 'failed', error };
  }
}

/** A fixed teacher's outputs on disk: its header file, reading and writing them. */
interface TeacherOutputsOnDisk {
  file: string;
  read(): { logits: TeacherLogits; run: string } | undefined;
  write(logits: TeacherLogits): string | undefined;
}

/** Everything one execution of a run holds: data, the teacher, cached logits, the clock. */
class RunSession {
  private readonly baseDir: string;
  private data!: PreparedData;
  private readonly metrics: MetricsLog;
  private readonly clock = new ProgressClock(0, 0);
  private readonly teachers = new Map<string, FixedTeacher>();
  private extraTeacherLogits: Float32Array[] = [];
  private readonly featureCache = new Map<string, Map<string, CachedFeature>>();
  /** Fixed teachers whose outputs go to disk once complete (the training split may fill during epoch 1). */
  private readonly unsavedTeacherOutputs = new Map<string, TeacherOutputsOnDisk>();
  /** Warnings of this execution for report.json (teacherHealth.ts), by kind. */
  private readonly warnings = new Map<string, ReportWarning>();

  constructor(private readonly runDir: string, private readonly config: ExperimentConfig, private readonly experimentFile: string,
    private readonly experimentText: string, private readonly emit: (m: EngineToHost) => void, private readonly shouldStop: () => boolean,
    /** The backend of the teacher thread, when fixed teachers use one. */
    private readonly teacherThread?: 'wasm' | 'cpu') {
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
      for (const t of this.teachers.values()) t.model.dispose();
      this.teachers.clear();
    }
  }

  private async executeJobs(): Promise<'completed' | 'cancelled'> {
    const { config } = this;
    this.log('loading data');
    this.data = prepareData(config.data, this.baseDir);
    const d = this.data;
    this.log(`data: train ${d.train.size}, validation ${d.validation?.size ?? 0}, test ${d.test.size}, ${d.numClasses} classes, samples [${d.shape.join(', ')}]`);
    await this.checkModels();

    const run = readRun(this.runDir);
    for (const j of Object.values(run.jobs)) {
      const training = j.kind === 'teacher' && config.teacher?.train ? config.teacher.train : config.training;
      const steps = stepsPerEpoch(d.train.size, training);
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

    const report = await this.withReportTeacher((teacher, input, evalFig) =>
      buildReport(this.runDir, config, teacher, input, evalFig, this.data));
    exportStudent(this.runDir, report.exportedJob);
    report.quantized = await quantizedFigures(this.runDir, this.data, this.teachers.get('teacher')?.logits.test);
    this.log(`int8 student: ${report.quantized.bytes} bytes (${report.quantized.compression.toFixed(2)}× smaller), test accuracy ` +
      `${(report.quantized.testAcc * 100).toFixed(2)}% (float ${(report.quantized.floatTestAcc * 100).toFixed(2)}%)`);
    if (report.teacher) {
      this.warn(teacherBelowScratchWarning(report.teacher.testAcc, report.summary.scratch?.testAcc,
        teacherContext(this.teachers.get('teacher')?.model, config, this.data)));
    }
    report.warnings = [...this.warnings.values()];
    fs.writeFileSync(path.join(this.runDir, 'report.json'), JSON.stringify(report, null, 2));
    return 'completed';
  }

  /**
   * Before any training: every architecture builds, fits the data and the classes, and every
   * layer pair and self-distillation head resolves. Problems are reported located in the
   * experiment file, all at once.
   */
  private async checkModels(): Promise<void> {
    try {
      const errors = await checkModels(this.config, this.experimentFile, this.experimentText, this.data,
        (model) => resolveModel(this.spec(model), this.baseDir, this.config.seeds[0]), (model) => this.who(model));
      if (errors.length) throw new ExperimentError(errors);
      const arch = await writeStudentArchitecture(this.runDir, this.config.student, this.baseDir, this.config.seeds[0]);
      if (arch) this.log(`derived student architecture: ${path.relative(this.runDir, arch)}/model.json`);
    } catch (e) {
      throw locateDeriveError(e, this.experimentFile, this.experimentText);
    }
  }

  /** The fixed teacher of a job: the experiment's teacher, or a previous job's final model. */
  private async fixedTeacher(source: string): Promise<FixedTeacher> {
    const hit = this.teachers.get(source);
    if (hit) return hit;
    let model: tf.LayersModel;
    if (source === 'teacher') {
      const trained = path.join(this.runDir, 'models', 'teacher', 'model.json');
      model = this.config.teacher?.train && fs.existsSync(trained)
        ? await loadLayersModelFromFile(trained)
        : await resolveModel(this.config.teacher!, this.baseDir, this.config.seeds[0]);
    } else {
      model = await loadLayersModelFromFile(path.join(this.runDir, 'models', source, 'model.json'));
    }
    const inputShape = modelInputShape(model, this.data.shape, `teacher ${source}`);
    const d = this.data;
    // A pre-trained teacher's outputs are shared by the runs of this process (the points of a sweep).
    const t0 = this.config.teacher;
    const key = source === 'teacher' && t0 && 'model' in t0 && !t0.train ? teacherKey(t0.model, this.config.data, this.baseDir) : undefined;
    const hitLogits = cachedTeacherLogits(key);
    const classes = outputWidth(model);
    const disk = key && t0 && 'model' in t0 ? this.teacherOutputsOnDisk(path.resolve(this.baseDir, t0.model), inputShape, classes) : undefined;
    const fromDisk = hitLogits ? undefined : disk?.read();
    if (fromDisk) this.log(`teacher outputs read from ${path.relative(this.baseDir, disk!.file)} (saved by run ${fromDisk.run}): no pass of the teacher over the data`);
    else {
      this.log(`${hitLogits ? 'reusing the cached' : 'caching the'} outputs of ${source === 'teacher' ? 'the teacher' : source}` +
        (!hitLogits && this.teacherThread ? ' (evaluation splits now; the training split during the first epoch that needs it, in the teacher thread)' : ''));
    }
    const logits = hitLogits ?? fromDisk?.logits ?? await this.predictSplits(model, inputShape, source);
    cacheTeacherLogits(key, logits);
    const ev = evaluateLogits(logits.test, d.test.y, classes);
    this.log(`${source === 'teacher' ? 'teacher' : source}: test accuracy ${(ev.acc * 100).toFixed(2)}% (${ev.errors} errors)`);
    // Teacher health (issue 13, teacherHealth.ts): at or near chance on the validation split.
    if (source === 'teacher') this.warn(teacherAtLoad(model, logits, this.config, d, classes));
    const t = { model, inputShape, logits };
    this.teachers.set(source, t);
    if (disk && !fromDisk) {
      this.unsavedTeacherOutputs.set(source, disk);
      this.saveTeacherOutputs();
    }
    return t;
  }

  /**
   * Where a pre-trained teacher's outputs are kept across runs (models/teacherDiskCache.ts), or
   * undefined when that cache is off (teacherCacheMB 0), the files cannot be hashed, or the outputs
   * would exceed teacherCacheMB.
   */
  private teacherOutputsOnDisk(modelJson: string, inputShape: number[], classes: number): TeacherOutputsOnDisk | undefined {
    const d = this.data;
    const rows = { train: d.train.size, validation: d.validation?.size ?? 0, test: d.test.size };
    if (this.config.teacherCacheMB === 0) return undefined;
    if ((rows.train + rows.validation + rows.test) * classes * 4 > this.config.teacherCacheMB * (1 << 20)) {
      this.log(`teacher outputs are larger than teacherCacheMB (${this.config.teacherCacheMB} MB): not kept on disk for later runs`);
      return undefined;
    }
    const teacherHash = teacherFilesHash(modelJson);
    if (!teacherHash) return undefined;
    const dir = teacherOutputsDir(this.runDir);
    const key = teacherOutputsKey({ teacherHash, data: this.config.data, fingerprint: dataFingerprint(d), inputShape, backend: tf.getBackend() });
    return {
      file: path.join(dir, `${key}.json`),
      read: () => {
        const r = readTeacherOutputs(dir, key, { classes, rows });
        if (r.problem) this.log(`teacher outputs on disk ignored: ${r.problem}`);
        return r.logits && r.header ? { logits: r.logits, run: r.header.run } : undefined;
      },
      write: (logits) => writeTeacherOutputs(dir, key, logits, classes, { teacher: modelJson, backend: tf.getBackend(), run: path.basename(this.runDir) }),
    };
  }

  /** Saves the outputs of fixed teachers that are complete and not on disk yet (after each epoch). */
  private saveTeacherOutputs(): void {
    for (const [source, disk] of this.unsavedTeacherOutputs) {
      const logits = this.teachers.get(source)?.logits;
      if (!logits || logits.trainMissing) continue;
      this.unsavedTeacherOutputs.delete(source);
      try {
        const file = disk.write(logits);
        if (file) this.log(`teacher outputs saved to ${path.relative(this.baseDir, file)}: later runs with this teacher and data skip the teacher`);
      } catch (e) {
        this.log(`teacher outputs not saved (${(e as Error).message}); later runs compute them again`);
      }
    }
  }

  /**
   * A fixed teacher's logits over every split, with the teacher thread's help when there is one.
   * With a thread, the training split is left to fill on demand: the first distillation epoch that
   * needs it runs the teacher in the thread, one batch ahead, while the student trains (so the
   * run does not wait for a pass over the whole split first); the evaluation splits are computed now.
   */
  private async predictSplits(model: tf.LayersModel, inputShape: number[], source: string): Promise<FixedTeacher['logits']> {
    const d = this.data;
    const onDemand = Boolean(this.teacherThread);
    const splits = [...(onDemand ? [] : [d.train]), ...(d.validation ? [d.validation] : []), d.test];
    const pipe = this.teacherThread
      ? await TeacherPipe.start(model, { layers: [], inputShape, backend: this.teacherThread, log: (m) => this.log(m), label: `outputs of ${source}` })
      : undefined;
    try {
      const outs = await predictLogitsShared(model, splits, inputShape, pipe);
      const train = onDemand ? new Float32Array(d.train.size * outputWidth(model)) : outs.shift()!;
      return {
        train, ...(onDemand && d.train.size > 0 ? { trainMissing: new Uint8Array(d.train.size).fill(1), trainMissingCount: d.train.size } : {}),
        validation: d.validation ? outs[0] : undefined, test: outs[outs.length - 1],
      };
    } finally {
      pipe?.dispose();
    }
  }

  /**
   * A teacher thread for a job's per-batch teacher, once it has loaded the teacher (a fraction of a
   * second; a thread that cannot is reported by the pipe and the job runs the teacher itself).
   */
  private async perBatchPipe(job: string, teacher: FixedTeacher, layers: string[], fillOnly: boolean): Promise<TeacherPipe | undefined> {
    const pipe = await TeacherPipe.start(teacher.model, { layers, inputShape: teacher.inputShape, backend: this.teacherThread!, log: (m) => this.log(m), label: job });
    if (!pipe) return undefined;
    try {
      await pipe.ready;
    } catch {
      return undefined; // the pipe has logged why, and is disposed
    }
    this.log(!fillOnly
      ? `${job}: the teacher runs in a worker thread, one batch ahead of the student`
      : `${job}: the teacher's logits of the training split are computed in a worker thread, one batch ahead of the student, until they are all cached`);
    return pipe;
  }

  /**
   * The fixed teacher's tapped features over the training split, computed once and kept as float16
   * when they fit in `teacherCacheMB`; otherwise (or when 0) the teacher runs on every batch.
   */
  private teacherFeatures(source: string, teacher: FixedTeacher, layers: string[]): Map<string, CachedFeature> | undefined {
    if (layers.length === 0) return undefined;
    const key = `${source}|${layers.join(',')}`;
    const hit = this.featureCache.get(key);
    if (hit) return hit;
    const d = this.data.train;
    const infos = layerInfos(teacher.model).filter((l) => layers.includes(l.name));
    const shapes = new Map(infos.map((l) => [l.name, l.outputShape.slice(1) as number[]]));
    const bytes = d.size * [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0) * 2;
    const mb = (b: number) => (b / (1 << 20)).toFixed(0);
    if (this.config.teacherCacheMB === 0) {
      this.log(`teacher feature cache disabled (teacherCacheMB 0): the teacher runs on every batch for ${layers.join(', ')}`);
      return undefined;
    }
    if (bytes > this.config.teacherCacheMB * (1 << 20)) {
      this.log(`teacher features of ${layers.join(', ')} need ${mb(bytes)} MB as float16, more than teacherCacheMB ` +
        `(${this.config.teacherCacheMB} MB): the teacher runs on every batch`);
      return undefined;
    }
    const cache = new Map<string, CachedFeature>();
    for (const [l, shape] of shapes) cache.set(l, { data: new Uint16Array(d.size * shape.reduce((a, b) => a * b, 1)), shape });
    const tap = tapModel(teacher.model, layers);
    const per = d.shape.reduce((a, b) => a * b, 1);
    for (let start = 0; start < d.size; start += 256) {
      const n = Math.min(256, d.size - start);
      // Read outside tidy: tidy walks what its function returns, every element of a typed array included.
      const outs = tf.tidy(() => (tap.predict(tf.tensor(d.x.subarray(start * per, (start + n) * per), [n, ...teacher.inputShape]), { batchSize: n }) as tf.Tensor[]).slice(1));
      const values = outs.map((t) => t.dataSync() as Float32Array);
      tf.dispose(outs);
      layers.forEach((l, i) => {
        const f = cache.get(l)!;
        encodeHalf(values[i], f.data, start * (f.data.length / d.size));
      });
    }
    this.log(`teacher features cached for ${layers.join(', ')}: ${mb(bytes)} MB as float16`);
    this.featureCache.set(key, cache);
    return cache;
  }

  private async extraTeachers(): Promise<Float32Array[]> {
    if (this.extraTeacherLogits.length) return this.extraTeacherLogits;
    for (const entry of this.config.knowledge) {
      if (entry.method !== 'multi-kd') continue;
      for (const spec of entry.teachers) {
        const m = await resolveModel(spec, this.baseDir, this.config.seeds[0]);
        try {
          this.extraTeacherLogits.push(predictLogits(m, this.data.train, modelInputShape(m, this.data.shape, describeSpec(spec))));
        } finally {
          m.dispose();
        }
      }
    }
    return this.extraTeacherLogits;
  }

  private async runJob(job: string, state: JobState): Promise<'completed' | 'cancelled'> {
    const c = this.config;
    const d = this.data;
    updateRun(this.runDir, (r) => {
      r.jobs[job].status = 'running';
    });
    let learner: Learner;
    let training = c.training;
    const model = await resolveModel(this.spec(state.model), this.baseDir, state.seed);
    const inputShape = modelInputShape(model, d.shape, this.who(state.model));
    const numClasses = outputWidth(model);
    const augment = c.data.augment && ((c.data.augment.jobs ?? 'all') === 'all' || state.kind === 'teacher') ? c.data.augment : undefined;
    if (state.kind === 'teacher' || state.kind === 'scratch') {
      training = state.kind === 'teacher' ? c.teacher!.train! : c.training;
      const evalTeacher = state.kind === 'scratch' && c.teacher && c.scheme.kind !== 'online' && c.scheme.kind !== 'self'
        ? await this.fixedTeacher('teacher') : undefined;
      learner = distillLearner({ student: model, inputShape, terms: buildTerms(c, 'scratch', { student: model }), numClasses,
        teacher: evalTeacher ? { ...evalTeacher, logits: { ...evalTeacher.logits } } : undefined });
    } else if (state.kind === 'distill') {
      const teacher = await this.fixedTeacher(state.teacher ?? 'teacher');
      // adapters are initialised from the job's seed too, so a run is reproducible from its seeds
      const terms = await withSeededRandom(state.seed * 7919 + 1, () =>
        buildTerms(c, 'distill', { teacher: teacher.model, student: model }, { adapterPrefix: `adapter_${job}`, trainLabels: d.train.y }));
      if (augment) this.log(`${job}: the training images are augmented (data.augment), so the teacher runs on every batch instead of using its cached outputs`);
      const cachedFeatures = augment ? undefined : this.teacherFeatures(state.teacher ?? 'teacher', teacher, [...new Set(terms.flatMap((t) => t.teacherLayers))]);
      const extraTeacherLogits = await this.extraTeachers();
      const perBatch = perBatchTeacherLayers({ terms, teacher, teacherPerBatch: Boolean(augment), cachedFeatures });
      // No tapped layer and no augmentation: the thread only fills the training split's logits.
      const fillOnly = perBatch !== undefined && perBatch.length === 0 && !augment;
      const teacherPipe = perBatch && this.teacherThread ? await this.perBatchPipe(job, teacher, perBatch, fillOnly) : undefined;
      try {
        learner = distillLearner({ student: model, inputShape, terms, teacher, numClasses, extraTeacherLogits,
          teacherPerBatch: Boolean(augment), cachedFeatures, teacherPipe });
      } catch (e) {
        teacherPipe?.dispose();
        throw e;
      }
    } else if (state.kind === 'online') {
      if (c.scheme.kind !== 'online') throw new Error('online job outside scheme online');
      const peers = [{ name: 'teacher', model: await resolveModel(c.teacher!, this.baseDir, state.seed * 1000 + 1), inputShape: [] as number[] },
        { name: 'student', model, inputShape }];
      for (let k = 2; k < c.scheme.peers; k++) {
        peers.push({ name: `student${k}`, model: await resolveModel(c.student, this.baseDir, state.seed * 1000 + k), inputShape });
      }
      peers[0].inputShape = modelInputShape(peers[0].model, d.shape, this.who('teacher'));
      learner = onlineLearner(peers, { labelsWeight: c.labels.weight > 0 ? c.labels.weight : 1, temperature: c.scheme.temperature, data: d, numClasses });
    } else {
      if (c.scheme.kind !== 'self') throw new Error('self job outside scheme self');
      const scheme = c.scheme;
      learner = await withSeededRandom(state.seed * 7919 + 2, () => selfLearner(model, inputShape, scheme, { data: d, numClasses }));
    }
    this.log(`${job}: ${learner.termNames.join(' + ')}, ${training.epochs} epochs`);
    try {
      const status = await trainJob({
        runDir: this.runDir, job, kind: state.kind, seed: state.seed, learner, data: d, training,
        metrics: this.metrics, clock: this.clock, shouldStop: this.shouldStop, augment,
        emit: (m) => {
          this.emit(m);
          if (m.type === 'epoch' && this.unsavedTeacherOutputs.size) this.saveTeacherOutputs();
        },
      });
      if (status === 'completed') {
        const dir = path.join(this.runDir, 'models', job);
        if (!fs.existsSync(dir)) await saveLayersModel(model, dir);
        if (state.kind === 'online') {
          const peerDir = path.join(this.runDir, 'models', `${job}-teacher`);
          if (!fs.existsSync(peerDir)) await saveLayersModel(learner.extras[0], peerDir);
        }
        updateRun(this.runDir, (r) => {
          r.jobs[job].status = 'completed';
        });
        this.metrics.append({ type: 'event', event: 'job-done', job, t: new Date().toISOString() });
      }
      return status;
    } finally {
      learner.dispose();
      model.dispose();
    }
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
    const t = await this.fixedTeacher('teacher');
    return fn(t.model, t.inputShape, evaluateLogits(t.logits.test, this.data.test.y, outputWidth(t.model)));
  }
}

/** Copies the chosen distilled student's final model to `student/` (once). */
function exportStudent(runDir: string, job: string): void {
  const dest = path.join(runDir, 'student');
  if (fs.existsSync(dest)) return;
  const src = path.join(runDir, 'models', job);
  const tmp = path.join(runDir, `.tmp-student-${process.pid}`);
  fs.cpSync(src, tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'source.json'), JSON.stringify({ job }, null, 2));
  fs.renameSync(tmp, dest);
}

export type { RunJson };
