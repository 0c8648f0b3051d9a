/**
 * Checkpoints: a job's model weights, optimizer state and loop position, each in its own folder
 * under `checkpoints/<job>/`, written to a temporary folder and renamed into place (a kill never
 * leaves a half-written checkpoint that looks complete). Existing checkpoints are never rewritten.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { holdPoint } from '../training/faults';
import type { MetricRecord } from '../../runs/store';
import { applyResumeMarkers, parseMetricLines } from '../../runs/store';
import { artifactsToFiles, loadLayersModelFromFile, modelArtifacts, writeDirAtomic } from '../models/fileIO';

/** Where a job's loop stands: `epoch` (1-based) with `step` batches of it done, and what it has drawn and logged. */
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
  /**
   * Values drawn so far from the job's random stream (dropout, augmentation, anything drawn from
   * Math.random while the job trains): a resumed job goes on from there. Absent in checkpoints
   * written before it was recorded (those resume with a fresh stream).
   */
  random?: number;
  /** Length of metrics.jsonl when the checkpoint was taken: the job's later records are superseded on resume. */
  metricsOffset?: number;
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
    'optimizer.json': JSON.stringify({ className: optimizer.getClassName(), specs, ...accBetas(optimizer) }),
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
    className: string; specs: tf.io.WeightsManifestEntry[]; accBeta1?: number; accBeta2?: number;
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
  // Adam: setWeights recomputes β^t as pow(β, t), the steps multiply it by β each time — values a
  // few ulps apart. The saved products make the resumed steps exactly those of an uninterrupted run.
  const acc = optimizer as unknown as AdamAcc;
  if (meta.accBeta1 !== undefined && meta.accBeta2 !== undefined && acc.accBeta1 && acc.accBeta2) {
    tf.tidy(() => {
      acc.accBeta1!.assign(tf.scalar(meta.accBeta1!));
      acc.accBeta2!.assign(tf.scalar(meta.accBeta2!));
    });
  }
}

/** Adam's running products β₁^t and β₂^t (not among tfjs's optimizer weights). */
interface AdamAcc { accBeta1?: tf.Variable; accBeta2?: tf.Variable }

function accBetas(optimizer: tf.Optimizer): { accBeta1?: number; accBeta2?: number } {
  const acc = optimizer as unknown as AdamAcc;
  if (!(acc.accBeta1 instanceof tf.Variable) || !(acc.accBeta2 instanceof tf.Variable)) return {};
  return { accBeta1: acc.accBeta1.dataSync()[0], accBeta2: acc.accBeta2.dataSync()[0] };
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

/**
 * Removes what the latest checkpoint of a job makes useless: older mid-epoch checkpoints (each is
 * renamed to a temporary name first, so a kill never leaves a partial folder that looks like a
 * checkpoint) and the temporary folders of writes whose process is gone. Epoch-end checkpoints stay.
 */
export function pruneCheckpoints(runDir: string, job: string): void {
  const root = path.join(runDir, 'checkpoints', job);
  if (!fs.existsSync(root)) return;
  const remove = (dir: string): void => {
    const tmp = path.join(root, `.tmp-old-${path.basename(dir)}-${process.pid}`);
    try {
      fs.renameSync(dir, tmp);
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      // gone already, or not removable now: a later prune tries again
    }
  };
  for (const name of fs.readdirSync(root)) {
    // `.tmp-<name>-<pid>-<ms>` (writeDirAtomic), `.tmp-old-<name>-<pid>` (a removal)
    const pid = (/^\.tmp-.+-(\d+)-\d{13,}$/.exec(name) ?? /^\.tmp-old-.+-(\d+)$/.exec(name))?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
  const all = listCheckpoints(runDir, job);
  const latest = all[all.length - 1];
  for (const c of all) if (c !== latest && !c.state.epochEnd) remove(c.dir);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * For a checkpoint that does not record the length of metrics.jsonl (written by an older version):
 * where the job's first record past the checkpoint's position starts, else the file's length.
 */
export function offsetAfter(runDir: string, job: string, s: LoopState): number {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return 0;
  const buf = fs.readFileSync(file);
  const past = (r: MetricRecord): boolean => {
    if (r.type === 'step') return r.epoch > s.epoch || (r.epoch === s.epoch && !s.epochEnd && r.step > s.step);
    if (r.type === 'epoch') return r.epoch > s.epoch || (r.epoch === s.epoch && !s.epochEnd);
    return false;
  };
  const hit = applyResumeMarkers(parseMetricLines(buf)).find((l) => l.record.job === job && past(l.record));
  return hit ? hit.offset : buf.length;
}
