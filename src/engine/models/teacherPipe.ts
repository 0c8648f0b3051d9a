/**
 * The main thread's side of the teacher thread (teacherThread.ts). The wasm and cpu backends
 * compute on one thread, so while the student trains one of the machine's cores idles; a fixed
 * teacher's forward passes need no gradient and no shared state, so they can run there: one batch
 * ahead of the student's step (`submit` / `result`), or over a whole split at once (`predictRange`,
 * used by `predictLogitsShared` to fill the teacher-logits cache with both cores).
 *
 * A pipe never takes a run down: when the thread cannot start, crashes, exits or answers with an
 * error, the pipe logs one line, terminates the thread and rejects what is pending, and from then
 * on `failed` is set and every request is rejected at once; the caller runs the teacher in the
 * main thread instead. The thread keeps the process alive only while it has requests to answer
 * (it is unref'ed when idle), and `dispose` terminates it.
 *
 * Where the thread's code is: next to the bundle that runs the engine (dist/teacherThread.js beside
 * dist/worker.js and dist/cli.js), else (tests and benches under `node --import tsx`) the TypeScript
 * source beside this file. A worker inherits `--import tsx` from process.execArgv, but Node 20 does
 * not apply tsx's module hooks to a worker's entry file, so the source is loaded through a
 * two-line CommonJS bootstrap that registers tsx's require hook first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data';
import { outputWidth, predictLogits, predictRows } from '../training/evaluate';
import { modelArtifacts } from './fileIO';
import type { FromTeacherThread, TeacherThreadInit, ToTeacherThread } from './teacherThread';

/** The teacher's outputs on one batch: logits first, then each tapped layer, in order. */
export interface TeacherOutputs {
  outputs: Float32Array[];
  shapes: number[][];
}

export interface TeacherPipeOptions {
  /** Tapped layers whose outputs follow the logits (none: logits only). */
  layers: string[];
  /** The teacher's per-sample input shape. */
  inputShape: number[];
  /** The main thread's backend (`tf.getBackend()`); the thread initialises the same one. */
  backend: string;
  /** Receives the log lines: a failure, said once, with what happens instead. */
  log?: (message: string) => void;
  /** Who the thread computes for, to begin the log lines (e.g. `distill-s1`). */
  label?: string;
}

/** How long a thread may take to load its teacher before it is given up (a hung start must not hold a run). */
const LOAD_TIMEOUT_MS = 120_000;

/** A request's answer-to-be; kept until it is claimed (`result`) and settled, or discarded. */
interface Pending {
  promise: Promise<TeacherOutputs>;
  resolve: (r: TeacherOutputs) => void;
  reject: (e: Error) => void;
  claimed: boolean;
  settled: boolean;
}

/** Where the thread's code is: the bundle's own output beside this bundle, or (under tsx) the source. */
export function teacherThreadEntry(): string {
  const bundled = path.join(__dirname, 'teacherThread.js');
  return fs.existsSync(bundled) ? bundled : path.join(__dirname, 'teacherThread.ts');
}

/** Starts the thread's code: the bundle as it is, the TypeScript source through tsx's require hook. */
function startThread(workerData: TeacherThreadInit): Worker {
  const entry = teacherThreadEntry();
  if (!entry.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = require.resolve('tsx/cjs/api');
  const bootstrap = `require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(entry)});`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class TeacherPipe {
  /**
   * The backend a thread would use, or undefined when a thread brings nothing: tfjs-node
   * ('tensorflow') already computes on every core.
   */
  static threadBackend(backend: string): 'wasm' | 'cpu' | undefined {
    return backend === 'wasm' || backend === 'cpu' ? backend : undefined;
  }

  /**
   * Starts a thread holding a copy of `model` (its artifacts are captured here, in memory).
   * Returns undefined, after a log line, when the backend needs no thread or the model cannot be
   * handed over; otherwise the pipe at once (requests queue until the thread is ready).
   */
  static async start(model: tf.LayersModel, o: TeacherPipeOptions): Promise<TeacherPipe | undefined> {
    const backend = TeacherPipe.threadBackend(o.backend);
    if (!backend) return undefined;
    let artifacts: tf.io.ModelArtifacts;
    try {
      artifacts = await modelArtifacts(model);
    } catch (e) {
      o.log?.(`${prefix(o.label)}the teacher could not be handed to a thread (${message(e)}): it runs in the main thread`);
      return undefined;
    }
    return TeacherPipe.spawn({ artifacts, layers: o.layers, inputShape: o.inputShape, backend }, o);
  }

  /** Starts a thread from artifacts (what `start` does once it has them). */
  static spawn(init: TeacherThreadInit, o: Pick<TeacherPipeOptions, 'log' | 'label'> = {}): TeacherPipe {
    return new TeacherPipe(init, o);
  }

  /** Resolves when the thread has loaded the teacher; rejects when it could not. */
  readonly ready: Promise<void>;
  private readonly worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  /** Requests the thread has not answered yet (discarded ones included): the thread is busy while > 0. */
  private readonly unanswered = new Set<number>();
  private nextId = 1;
  private failure: Error | undefined;
  private disposed = false;
  private loaded = false;
  private markReady!: () => void;
  private markNotReady!: (e: Error) => void;

  private constructor(init: TeacherThreadInit, private readonly o: Pick<TeacherPipeOptions, 'log' | 'label'>) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markNotReady = reject;
    });
    this.ready.catch(() => undefined); // a failure is reported by `fail`, and seen by whoever awaits
    try {
      this.worker = startThread(init);
    } catch (e) {
      this.fail(`it could not start: ${message(e)}`);
      return;
    }
    this.worker.unref();
    const timer = setTimeout(() => {
      if (!this.loaded) this.fail(`it did not load the teacher within ${LOAD_TIMEOUT_MS / 1000} s`);
    }, LOAD_TIMEOUT_MS);
    timer.unref();
    void this.ready.finally(() => clearTimeout(timer)).catch(() => undefined);
    this.worker.on('message', (m: FromTeacherThread) => this.onMessage(m));
    this.worker.on('error', (e) => this.fail(`it crashed: ${message(e)}`));
    this.worker.on('messageerror', (e) => this.fail(`a message could not be read: ${message(e)}`));
    this.worker.on('exit', (code) => {
      if (!this.disposed) this.fail(`it exited (code ${code})`);
    });
  }

  /** Whether the thread has loaded the teacher (and has not failed since). */
  get isReady(): boolean {
    return this.loaded && !this.failure && !this.disposed;
  }

  /** Why the thread is out of service (then every request is rejected at once), or undefined. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Asks for the teacher's outputs (logits, then the tapped layers) on `n` samples; returns the request's id. */
  submit(x: Float32Array, n: number): number {
    return this.request('predict', x, n);
  }

  /** The answer to a request (claimed once). Rejects when the thread failed before answering. */
  result(id: number): Promise<TeacherOutputs> {
    const p = this.pending.get(id);
    if (!p || p.claimed) return Promise.reject(new Error(`teacher thread: no request ${id} (already claimed or discarded)`));
    p.claimed = true;
    if (p.settled) this.pending.delete(id);
    return p.promise;
  }

  /** Forgets a request whose answer is no longer wanted (the thread still computes it). */
  discard(id: number): void {
    this.pending.delete(id);
  }

  /** The teacher's logits on `n` samples (row-major [n, C]), computed by the thread 512 rows at a time. */
  async predictRange(x: Float32Array, n: number): Promise<Float32Array> {
    const r = await this.result(this.request('range', x, n));
    return r.outputs[0];
  }

  /** Terminates the thread; pending requests are rejected. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rejectAll(new Error('teacher thread disposed'));
    void this.worker?.terminate().catch(() => undefined);
  }

  private request(type: ToTeacherThread['type'], x: Float32Array, n: number): number {
    const id = this.nextId++;
    let resolve!: (r: TeacherOutputs) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<TeacherOutputs>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // handled by whoever claims it; an unclaimed failure is not a crash
    this.pending.set(id, { promise, resolve, reject, claimed: false, settled: false });
    const gone = this.failure ?? (this.disposed ? new Error('teacher thread disposed') : undefined);
    if (gone || !this.worker) {
      this.settle(id, gone ?? new Error('teacher thread not running'));
      return id;
    }
    // A view into a larger buffer (a dataset's rows) would be cloned with the whole buffer: send a
    // compact copy, and hand that copy over instead of cloning it again.
    const whole = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength;
    const data = whole ? x : x.slice();
    const msg: ToTeacherThread = { type, id, x: data, n };
    this.unanswered.add(id);
    this.worker.ref();
    try {
      this.worker.postMessage(msg, whole ? [] : [data.buffer as ArrayBuffer]);
    } catch (e) {
      this.fail(`a request could not be sent: ${message(e)}`);
    }
    return id;
  }

  private onMessage(m: FromTeacherThread): void {
    if (m.type === 'ready') {
      this.loaded = true;
      this.markReady();
      return;
    }
    if (m.type === 'error' && (m.fatal || m.id === undefined)) {
      this.fail(m.message);
      return;
    }
    this.answered(m.id!);
    if (m.type === 'error') {
      // The thread is alive but a forward pass failed: it is no longer trusted for the rest of the run.
      this.fail(`a forward pass failed: ${m.message}`);
      return;
    }
    this.settle(m.id, { outputs: m.outputs, shapes: m.shapes });
  }

  /** Settles a request with its answer or an error; forgets it once its answer is claimed too. */
  private settle(id: number, r: TeacherOutputs | Error): void {
    const p = this.pending.get(id);
    if (!p || p.settled) return;
    p.settled = true;
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
    if (p.claimed) this.pending.delete(id);
  }

  private answered(id: number): void {
    this.unanswered.delete(id);
    if (this.unanswered.size === 0) this.worker?.unref();
  }

  private fail(reason: string): void {
    if (this.failure || this.disposed) return;
    this.failure = new Error(`teacher thread: ${reason}`);
    this.o.log?.(`${prefix(this.o.label)}the teacher thread stopped (${reason}): the teacher runs in the main thread instead`);
    this.markNotReady(this.failure);
    this.rejectAll(this.failure);
    this.disposed = true;
    void this.worker?.terminate().catch(() => undefined);
  }

  private rejectAll(e: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, e);
    this.unanswered.clear();
    this.worker?.unref();
  }
}

/**
 * The logits of `model` over several datasets, with both cores when a pipe is given: the work is
 * cut into chunks of `chunkRows` rows (a multiple of `predictRows`' 512, so every row goes through
 * the same batches as in `predictLogits`); the thread takes chunks from the front, the main thread
 * from the back, until none is left. What the thread could not do (it failed, or it was still
 * starting when the main thread ran out of chunks) the main thread does. Same model and backend on
 * both sides: the same values as `predictLogits`.
 */
export async function predictLogitsShared(model: tf.LayersModel, datasets: Dataset[], inputShape: number[],
  pipe: TeacherPipe | undefined, chunkRows = 1024): Promise<Float32Array[]> {
  // Splits streamed from disk are read within their memory bound, on the main thread.
  if (datasets.some((ds) => ds.stream)) return datasets.map((ds) => predictLogits(model, ds, inputShape));
  const c = outputWidth(model);
  const per = inputShape.reduce((a, b) => a * b, 1);
  const outs = datasets.map((ds) => new Float32Array(ds.size * c));
  const chunks: { d: number; start: number; n: number }[] = [];
  datasets.forEach((ds, d) => {
    for (let start = 0; start < ds.size; start += chunkRows) chunks.push({ d, start, n: Math.min(chunkRows, ds.size - start) });
  });
  type Chunk = (typeof chunks)[number];
  const rows = (k: Chunk) => datasets[k.d].x.subarray(k.start * per, (k.start + k.n) * per);
  const onMain = (k: Chunk) => outs[k.d].set(predictRows(model, rows(k), k.n, inputShape), k.start * c);
  /** Chunks sent to the thread and not answered yet. */
  const inFlight = new Map<Chunk, Promise<void>>();
  const leftOver: Chunk[] = [];
  let finished = false;
  let front = 0;
  let back = chunks.length - 1;
  const feed = () => {
    if (!pipe || pipe.failed || finished || front > back) return;
    const k = chunks[front++];
    inFlight.set(k, pipe.predictRange(rows(k), k.n).then(
      (logits) => {
        if (finished || !inFlight.delete(k)) return;
        outs[k.d].set(logits, k.start * c);
        feed();
      },
      () => {
        if (inFlight.delete(k)) leftOver.push(k);
      },
    ));
  };
  // Two requests in flight: the thread starts the next chunk while its last answer waits for the main thread.
  feed();
  feed();
  while (front <= back) {
    onMain(chunks[back--]);
    await new Promise((r) => setImmediate(r)); // let the thread's answers in
  }
  // A thread still starting would make the main thread wait for it: take its chunks back instead.
  if (pipe && !pipe.isReady) leftOver.push(...inFlight.keys());
  else while (inFlight.size) await Promise.all([...inFlight.values()]);
  finished = true;
  inFlight.clear();
  for (const k of leftOver) onMain(k);
  return outs;
}

function prefix(label: string | undefined): string {
  return label ? `${label}: ` : '';
}

function message(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0];
}
