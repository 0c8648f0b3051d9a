/**
 * Checkpoints: a job's model weights, optimizer state and loop position, each in its own folder
 * under `checkpoints/<job>/`, written to a temporary folder and renamed into place (a kill never
 * leaves a half-written checkpoint that looks complete). Existing checkpoints are never rewritten.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { holdPoint } from '../faults';
import { artifactsToFiles, loadLayersModelFromFile, modelArtifacts, writeDirAtomic } from '../models/fileIO';

/** Where a job's loop stands: `epoch` (1-based) with `step` batches of it done. */
export interface LoopState {
  epoch: number;
  /** Batches of `epoch` already done; equal to the epoch's batch count at an epoch end. */
  step: number;
  epochEnd: boolean;
  globalStep: number;
  /** Running sums of the partial epoch, so that a resumed epoch reports whole-epoch means. */
  sums: Record<string, number>;
  seen: number;
  correct: number;
  /** Best validation (or test) accuracy so far and its epoch. */
  best?: { epoch: number; acc: number };
  elapsedSeconds: number;
}

export interface Checkpoint {
  dir: string;
  state: LoopState;
}

function checkpointName(s: LoopState): string {
  const e = String(s.epoch).padStart(4, '0');
  return s.epochEnd ? `epoch-${e}` : `epoch-${e}-step-${String(s.step).padStart(6, '0')}`;
}

/** Writes a checkpoint; returns its folder. */
export async function saveCheckpoint(runDir: string, job: string, state: LoopState, model: tf.LayersModel,
  optimizer: tf.Optimizer, extras: tf.LayersModel[] = []): Promise<string> {
  const dir = path.join(runDir, 'checkpoints', job, checkpointName(state));
  if (fs.existsSync(dir)) return dir; // same position saved before (e.g. stop right at an epoch end)
  const files = artifactsToFiles(await modelArtifacts(model));
  const optWeights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(optWeights);
  // getWeights hands out the optimizer's own variables plus fresh tensors (the iteration count):
  // dispose only the fresh ones.
  tf.dispose(optWeights.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
  const extraWeights = extras.flatMap((m, i) => m.weights.map((w, k) => ({ name: `extra${i}/${k}/${w.name}`, tensor: w.read() })));
  const encodedExtras = await tf.io.encodeWeights(extraWeights);
  writeDirAtomic(dir, {
    ...files,
    'extras.bin': Buffer.from(encodedExtras.data as ArrayBuffer),
    'extras.json': JSON.stringify({ models: extras.map((m) => m.name), specs: encodedExtras.specs }),
    'optimizer.bin': Buffer.from(data as ArrayBuffer),
    'optimizer.json': JSON.stringify({ className: optimizer.getClassName(), specs }),
    'state.json': JSON.stringify(state, null, 2),
  }, (written) => {
    if (written === 2) holdPoint('checkpoint-write', { job, epoch: state.epoch, step: state.step });
  });
  return dir;
}

/** All complete checkpoints of a job, oldest first (temp folders of killed writes are ignored). */
export function listCheckpoints(runDir: string, job: string): Checkpoint[] {
  const root = path.join(runDir, 'checkpoints', job);
  if (!fs.existsSync(root)) return [];
  const out: Checkpoint[] = [];
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith('.tmp-')) continue;
    const stateFile = path.join(root, name, 'state.json');
    if (!fs.existsSync(stateFile)) continue;
    try {
      out.push({ dir: path.join(root, name), state: JSON.parse(fs.readFileSync(stateFile, 'utf8')) as LoopState });
    } catch {
      // unreadable state: not a usable checkpoint
    }
  }
  return out.sort((a, b) => a.state.globalStep - b.state.globalStep);
}

export function latestCheckpoint(runDir: string, job: string): Checkpoint | undefined {
  const all = listCheckpoints(runDir, job);
  return all[all.length - 1];
}

/** Loads the weights of a checkpoint into `model` (same architecture). */
export async function restoreModelWeights(model: tf.LayersModel, checkpointDir: string): Promise<void> {
  const saved = await loadLayersModelFromFile(path.join(checkpointDir, 'model.json'));
  try {
    const weights = saved.getWeights();
    model.setWeights(weights);
  } finally {
    saved.dispose();
  }
}

/** Restores an optimizer's state (moments, iteration count) from a checkpoint. */
export async function restoreOptimizer(optimizer: tf.Optimizer, checkpointDir: string): Promise<void> {
  const meta = JSON.parse(fs.readFileSync(path.join(checkpointDir, 'optimizer.json'), 'utf8')) as {
    className: string; specs: tf.io.WeightsManifestEntry[];
  };
  if (meta.className !== optimizer.getClassName()) {
    throw new Error(`${checkpointDir}: checkpoint optimizer is ${meta.className}, the experiment uses ${optimizer.getClassName()}`);
  }
  if (meta.specs.length === 0) return;
  const buf = fs.readFileSync(path.join(checkpointDir, 'optimizer.bin'));
  const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), meta.specs);
  try {
    await optimizer.setWeights(meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] })));
  } finally {
    tf.dispose(Object.values(map)); // setWeights copies them into its own variables
  }
}

/** Restores the weights of the extra models (adapters, heads, peers) saved with a checkpoint. */
export async function restoreExtras(extras: tf.LayersModel[], checkpointDir: string): Promise<void> {
  const metaFile = path.join(checkpointDir, 'extras.json');
  if (!fs.existsSync(metaFile)) {
    if (extras.length) throw new Error(`${checkpointDir}: checkpoint has no extras.json, expected weights of ${extras.length} extra model(s)`);
    return;
  }
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { models: string[]; specs: tf.io.WeightsManifestEntry[] };
  if (meta.models.length !== extras.length) {
    throw new Error(`${checkpointDir}: checkpoint holds ${meta.models.length} extra model(s) (${meta.models.join(', ')}), the job has ${extras.length}`);
  }
  const buf = fs.readFileSync(path.join(checkpointDir, 'extras.bin'));
  const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), meta.specs);
  try {
    extras.forEach((m, i) => {
      const values = meta.specs.filter((s) => s.name.startsWith(`extra${i}/`)).map((s) => map[s.name]);
      m.setWeights(values);
    });
  } finally {
    tf.dispose(Object.values(map));
  }
}
