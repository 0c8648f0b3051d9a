/**
 * The teacher thread: a `worker_threads` entry that holds a copy of a fixed teacher and answers
 * forward passes, so the engine's second core computes the teacher while the main thread trains
 * the student (the wasm and cpu backends run on one thread each). Started by `TeacherPipe`
 * (teacherPipe.ts), never imported by the engine at run time; bundled on its own as
 * dist/teacherThread.js.
 *
 * It receives the teacher as in-memory model artifacts (no files), the tapped layer names, the
 * per-sample input shape and the main thread's backend, initialises the same backend (wasm with the
 * project's kernels, or cpu), rebuilds the model and the same tapped multi-output model, and then
 * answers, in order:
 *   predict  one batch → [logits, ...tapped layers in order], each with its shape
 *   range    many rows → logits only, computed 512 rows at a time like `predictLogits`
 * Output buffers are transferred, not copied. Every failure is answered as an `error` message
 * (`fatal` when the thread cannot serve anything), never dropped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { outputWidth, predictRows } from '../training/evaluate';
import { tapModel } from './taps';

export interface TeacherThreadInit {
  artifacts: tf.io.ModelArtifacts;
  /** Tapped layers, in the order their outputs follow the logits. */
  layers: string[];
  inputShape: number[];
  backend: 'wasm' | 'cpu';
}

export type ToTeacherThread =
  | { type: 'predict'; id: number; x: Float32Array; n: number }
  | { type: 'range'; id: number; x: Float32Array; n: number };

export type FromTeacherThread =
  | { type: 'ready'; backend: string }
  | { type: 'result'; id: number; outputs: Float32Array[]; shapes: number[][] }
  | { type: 'error'; id?: number; fatal: boolean; message: string };

interface Teacher {
  model: tf.LayersModel;
  tap: tf.LayersModel;
  inputShape: number[];
}

/** An error's message, first line only (tfjs adds paragraphs of advice). */
function message(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0].trim();
}

function send(msg: FromTeacherThread, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

async function load(init: TeacherThreadInit): Promise<Teacher> {
  // TF.js's console notes (the cpu backend's "Hi, looks like you are running TensorFlow.js in
  // Node.js…") would repeat the main thread's, which runs the same model on the same backend.
  tf.env().set('PROD', true);
  const backend = await initBackend(init.backend);
  const model = await tf.loadLayersModel(tf.io.fromMemory(init.artifacts));
  const teacher = { model, tap: tapModel(model, init.layers), inputShape: init.inputShape };
  send({ type: 'ready', backend: backend.name });
  return teacher;
}

/** The teacher's outputs on one batch, as the main thread's `tapModel(...).predict` gives them. */
function predictBatch(t: Teacher, x: Float32Array, n: number): { outputs: Float32Array[]; shapes: number[][] } {
  const outs = tf.tidy(() => {
    const out = t.tap.predict(tf.tensor(x, [n, ...t.inputShape]), { batchSize: n });
    return Array.isArray(out) ? out : [out];
  });
  // Read outside tidy: tidy walks what its function returns, every element of a typed array included.
  try {
    return { outputs: outs.map((o) => o.dataSync() as Float32Array), shapes: outs.map((o) => o.shape) };
  } finally {
    tf.dispose(outs);
  }
}

/**
 * The buffers to transfer: each output gets its own (the cpu backend may hand out the same array
 * for two outputs, or an array it still uses, so those are copied first).
 */
function ownBuffers(outputs: Float32Array[]): ArrayBuffer[] {
  const seen = new Set<ArrayBufferLike>();
  outputs.forEach((o, i) => {
    if (seen.has(o.buffer) || o.byteOffset !== 0 || o.byteLength !== o.buffer.byteLength || tf.getBackend() === 'cpu') outputs[i] = o.slice();
    seen.add(outputs[i].buffer);
  });
  return outputs.map((o) => o.buffer as ArrayBuffer);
}

function answer(t: Teacher, req: ToTeacherThread): void {
  try {
    const r = req.type === 'predict'
      ? predictBatch(t, req.x, req.n)
      : { outputs: [predictRows(t.model, req.x, req.n, t.inputShape)], shapes: [[req.n, outputWidth(t.model)]] };
    send({ type: 'result', id: req.id, ...r }, ownBuffers(r.outputs));
  } catch (e) {
    send({ type: 'error', id: req.id, fatal: false, message: message(e) });
  }
}

if (parentPort) {
  const ready = load(workerData as TeacherThreadInit);
  ready.catch((e: unknown) => {
    // A layer class the model's module registered in the engine is unknown here: this thread never loads that module.
    const unknown = /^Unknown layer: (\S+?)\.?(\s|$)/.exec(message(e));
    const why = unknown ? `Unknown layer: ${unknown[1]}, a custom layer class, which only the model's module registers` : message(e);
    send({ type: 'error', fatal: true, message: `could not load the teacher: ${why}` });
  });
  // Requests wait for the model; promise callbacks run in order, so answers keep the request order.
  parentPort.on('message', (req: ToTeacherThread) => {
    ready.then((t) => answer(t, req), () => undefined);
  });
}
