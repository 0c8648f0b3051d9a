/**
 * The fixed teachers of one execution of a run, and everything cached about them: a job's teacher
 * is the experiment's (pre-trained, or trained as the run's first job) or a previous job's final
 * model (born-again, teacher-assistant chains). Their outputs are computed once per split — in
 * memory, shared by the runs of this process (teacherCache.ts), on disk for later runs
 * (teacherDiskCache.ts), with the teacher thread's help (teacherPipe.ts) — their tapped features
 * are cached as float16 when they fit `teacherCacheMB`, and multi-teacher KD's further teachers are
 * evaluated once. run.ts asks; the schemes (schemes/learners.ts) use what it answers.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../config/types';
import type { ReportWarning } from '../../runs/report';
import type { PreparedData } from '../data';
import { rowsOf, streamChunk } from '../data';
import { evaluateLogits, modelInputShape, outputWidth, predictLogits } from './evaluate';
import { encodeHalf } from './f16';
import { describeSpec, resolveModel } from '../models';
import { loadLayersModelFromFile } from '../models/fileIO';
import { layerInfos, tapModel } from '../models/taps';
import type { TeacherLogits } from '../models/teacherCache';
import { cachedTeacherLogits, cacheTeacherLogits, teacherKey } from '../models/teacherCache';
import { dataFingerprint, readTeacherOutputs, teacherFilesHash, teacherOutputsDir, teacherOutputsKey, writeTeacherOutputs } from '../models/teacherDiskCache';
import { predictLogitsShared, TeacherPipe } from '../models/teacherPipe';
import type { CachedFeature, FixedTeacher } from '../schemes/distill';
import { teacherAtLoad } from '../results/teacherHealth';

interface TeacherOutputsOnDisk {
  file: string;
  read(): { logits: TeacherLogits; run: string } | undefined;
  write(logits: TeacherLogits): string | undefined;
}

export interface TeacherSourceOptions {
  runDir: string;
  config: ExperimentConfig;
  baseDir: string;
  data: PreparedData;
  /** The backend of the teacher thread, when fixed teachers use one. */
  teacherThread?: 'wasm' | 'cpu';
  log(message: string): void;
  warn(w: ReportWarning | undefined): void;
}

export class TeacherSource {
  private readonly teachers = new Map<string, FixedTeacher>();
  private extraTeacherLogits: Float32Array[] = [];
  private readonly featureCache = new Map<string, Map<string, CachedFeature>>();
  /** Fixed teachers whose outputs go to disk once complete (the training split may fill during epoch 1). */
  private readonly unsavedTeacherOutputs = new Map<string, TeacherOutputsOnDisk>();
  private readonly runDir: string;
  private readonly config: ExperimentConfig;
  private readonly baseDir: string;
  private readonly data: PreparedData;
  private readonly teacherThread?: 'wasm' | 'cpu';
  private readonly log: (message: string) => void;
  private readonly warn: (w: ReportWarning | undefined) => void;

  constructor(o: TeacherSourceOptions) {
    ({ runDir: this.runDir, config: this.config, baseDir: this.baseDir, data: this.data, teacherThread: this.teacherThread, log: this.log, warn: this.warn } = o);
  }

  /** A fixed teacher already loaded (`teacher`, or a job's name), if any. */
  get(source: string): FixedTeacher | undefined {
    return this.teachers.get(source);
  }

  /** Releases the teachers' models. */
  dispose(): void {
    for (const t of this.teachers.values()) t.model.dispose();
    this.teachers.clear();
  }

  /** The fixed teacher of a job: the experiment's teacher, or a previous job's final model. */
  async fixedTeacher(source: string): Promise<FixedTeacher> {
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
      this.saveCompleted();
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
  saveCompleted(): void {
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
  async perBatchPipe(job: string, teacher: FixedTeacher, layers: string[], fillOnly: boolean): Promise<TeacherPipe | undefined> {
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
  teacherFeatures(source: string, teacher: FixedTeacher, layers: string[]): Map<string, CachedFeature> | undefined {
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
    const step = streamChunk(d, 256);
    for (let start = 0; start < d.size; start += step) {
      const n = Math.min(step, d.size - start);
      // Read outside tidy: tidy walks what its function returns, every element of a typed array included.
      const rows = rowsOf(d, start, n);
      const outs = tf.tidy(() => (tap.predict(tf.tensor(rows, [n, ...teacher.inputShape]), { batchSize: n }) as tf.Tensor[]).slice(1));
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

  async extraTeachers(): Promise<Float32Array[]> {
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
}
