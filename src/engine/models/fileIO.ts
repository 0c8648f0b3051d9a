/**
 * TF.js Layers model files (`model.json` + binary weight shards) read and written through our own
 * IO handler: plain `fs`, no network, every problem reported with the file and what was expected.
 * Saving is atomic: the files go to a temporary sibling folder that is renamed into place.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { dequantizeArtifacts, hasInt8Weights, INT8_FORMAT, quantFormat, quantizeArtifacts } from './quantize';
import type { ActivationRange } from './fakeQuant';
import { FakeQuantizer } from './fakeQuant';
import { noteWrite, removeQuietly } from '../../runs/diskFaults';

export class ModelFileError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'ModelFileError';
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, int8: 1, uint16: 2, float16: 2, complex64: 8 };

interface WeightEntry { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }

function entryBytes(w: WeightEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const dtype = w.quantization?.dtype ?? w.dtype;
  if (dtype === 'int4') return Math.ceil(n / 2); // two values per byte (quantize.ts)
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) throw new Error(`unsupported weight dtype "${dtype}" for "${w.name}"`);
  return n * size;
}

/** Reads and checks a model.json and its weight files into ModelArtifacts. */
export function readModelArtifacts(modelJsonPath: string): tf.io.ModelArtifacts {
  const file = path.resolve(modelJsonPath);
  if (!fs.existsSync(file)) throw new ModelFileError(`${file}: model file not found`, file);
  let json: unknown;
  const text = fs.readFileSync(file, 'utf8');
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(`${file}: not valid JSON (${(e as Error).message}); expected a TF.js Layers model.json`, file);
  }
  if (typeof json !== 'object' || json === null) {
    throw new ModelFileError(`${file}: expected a JSON object with "modelTopology" and "weightsManifest"`, file);
  }
  const mj = json as Record<string, unknown>;
  if (typeof mj.modelTopology !== 'object' || mj.modelTopology === null) {
    throw new ModelFileError(`${file}: field "modelTopology": expected an object (a Keras/TF.js Layers topology), found ${describe(mj.modelTopology)}`, file);
  }
  const manifest = mj.weightsManifest ?? [];
  if (!Array.isArray(manifest)) {
    throw new ModelFileError(`${file}: field "weightsManifest": expected an array of {paths, weights}, found ${describe(manifest)}`, file);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  manifest.forEach((group: unknown, gi: number) => {
    const g = group as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new ModelFileError(`${file}: field "weightsManifest[${gi}]": expected {"paths": [...], "weights": [...]}`, file);
    }
    let groupBytes = 0;
    for (const w of g.weights as WeightEntry[]) {
      if (typeof w?.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
        throw new ModelFileError(`${file}: field "weightsManifest[${gi}].weights": each entry needs name, shape and dtype`, file);
      }
      try {
        groupBytes += entryBytes(w);
      } catch (e) {
        throw new ModelFileError(`${file}: field "weightsManifest[${gi}].weights": ${(e as Error).message}`, file);
      }
      specs.push(w as tf.io.WeightsManifestEntry);
    }
    let found = 0;
    for (const p of g.paths as string[]) {
      const shard = path.resolve(path.dirname(file), p);
      if (!fs.existsSync(shard)) {
        throw new ModelFileError(`${shard}: weight file not found (listed in ${file} weightsManifest[${gi}].paths)`, shard);
      }
      const buf = fs.readFileSync(shard);
      found += buf.length;
      buffers.push(buf);
    }
    if (found !== groupBytes) {
      const shards = (g.paths as string[]).map((p) => path.resolve(path.dirname(file), p)).join(', ');
      throw new ModelFileError(
        `${shards}: weight data is ${found} bytes, but ${file} weightsManifest[${gi}] expects ${groupBytes} bytes (truncated or mismatched weight file)`, shards);
    }
  });
  const all = Buffer.concat(buffers);
  return {
    modelTopology: mj.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: mj.format as string | undefined,
    generatedBy: mj.generatedBy as string | undefined,
    convertedBy: mj.convertedBy as string | null | undefined,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

/**
 * Loads a TF.js Layers model from disk; an int8 or int4 copy (see quantize.ts) is dequantised to
 * float32, and a quantisation-aware copy's activation ranges (`distillQuantization.activations`)
 * are applied: its quantised layers' outputs are fake-quantised as in training (fakeQuant.ts).
 */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tf.LayersModel> {
  let artifacts = readModelArtifacts(modelJsonPath);
  let ranges: Record<string, ActivationRange> | undefined;
  if (hasInt8Weights(artifacts.weightSpecs ?? [])) {
    artifacts = { ...artifacts, ...dequantizeArtifacts(artifacts.weightSpecs ?? [], artifacts.weightData as ArrayBuffer) };
    ranges = activationRangesOf(modelJsonPath);
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new ModelFileError(`${path.resolve(modelJsonPath)}: cannot build the model: ${(e as Error).message}`, modelJsonPath);
  }
  if (ranges) {
    try {
      new FakeQuantizer(model, { bits: 8, activations: true, ranges, frozen: true, weights: false });
    } catch (e) {
      model.dispose();
      throw new ModelFileError(`${path.resolve(modelJsonPath)}: field "distillQuantization.activations": ${(e as Error).message}`, modelJsonPath);
    }
  }
  return model;
}

/** A quantised copy's activation ranges (layer → {min, max}), or undefined when its activations are float. */
function activationRangesOf(modelJsonPath: string): Record<string, ActivationRange> | undefined {
  const file = path.resolve(modelJsonPath);
  const dq = (JSON.parse(fs.readFileSync(file, 'utf8')) as { distillQuantization?: { activations?: unknown } }).distillQuantization;
  const acts = dq?.activations;
  if (acts === undefined || typeof acts === 'string') return undefined; // "float32"
  if (typeof acts !== 'object' || acts === null || Array.isArray(acts)) {
    throw new ModelFileError(`${file}: field "distillQuantization.activations": expected "float32" or an object of layer name → {"min", "max"}, found ${describe(acts)}`, file);
  }
  for (const [layer, r] of Object.entries(acts as Record<string, unknown>)) {
    const rr = r as { min?: unknown; max?: unknown } | null;
    if (typeof rr?.min !== 'number' || typeof rr.max !== 'number' || !(rr.min <= rr.max)) {
      throw new ModelFileError(`${file}: field "distillQuantization.activations.${layer}": expected {"min": number, "max": number} with min ≤ max, found ${JSON.stringify(r)}`, file);
    }
  }
  return acts as Record<string, ActivationRange>;
}

/**
 * Writes files into `dir` atomically: a temp sibling folder is filled, then renamed. `afterFile` is
 * told how many files are written so far, after each one.
 */
export function writeDirAtomic(dir: string, files: Record<string, Buffer | string>, afterFile?: (written: number) => void): void {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.tmp-${path.basename(dir)}-${process.pid}-${Date.now()}`);
  try {
    fs.mkdirSync(tmp, { recursive: true });
    let written = 0;
    for (const [name, data] of Object.entries(files)) {
      const fd = fs.openSync(path.join(tmp, name), 'w');
      try {
        fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      afterFile?.(++written);
    }
  } catch (e) {
    // A full disk (or a permission fault) leaves no temporary folder; the error names what was written.
    removeQuietly(tmp);
    throw noteWrite(e, dir, Object.values(files).reduce((n, d) => n + (typeof d === 'string' ? Buffer.byteLength(d) : d.length), 0));
  }
  if (fs.existsSync(dir)) {
    throw new Error(`${dir} already exists; refusing to overwrite it`);
  }
  fs.renameSync(tmp, dir);
}

function toBuffer(data: ArrayBuffer | ArrayBuffer[] | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

/** Model artifacts → the files of a TF.js model folder (model.json + weights.bin). */
export function artifactsToFiles(artifacts: tf.io.ModelArtifacts, extra: Record<string, unknown> = {}): Record<string, Buffer | string> {
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: 'Distill Studio',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    ...extra,
  };
  return { 'model.json': JSON.stringify(modelJson), 'weights.bin': toBuffer(artifacts.weightData as ArrayBuffer | ArrayBuffer[]) };
}

/** Captures a model's artifacts (topology + weights) without writing anything. */
export async function modelArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    captured = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  if (!captured) throw new Error('model.save produced no artifacts');
  return captured;
}

/** Saves a model as model.json + weights.bin into a new folder, atomically. */
export async function saveLayersModel(model: tf.LayersModel, dir: string, extraFiles: Record<string, Buffer | string> = {}): Promise<void> {
  const files = artifactsToFiles(await modelArtifacts(model));
  writeDirAtomic(dir, { ...files, ...extraFiles });
}

export interface Int8Export {
  /** Bytes of the int8 weights (weights.bin + per-channel scales and zero points). */
  bytes: number;
  /** Bytes of the float32 weights it was made from. */
  floatBytes: number;
  /** Size of the int8 folder's weights.bin. */
  fileBytes: number;
  quantizedWeights: number;
  floatWeights: number;
}

/**
 * Writes an int8 copy (per-channel affine weights, float activations; format in quantize.ts) of the
 * float32 model at `srcModelJson` into the new folder `destDir`, atomically.
 */
export function saveInt8Copy(srcModelJson: string, destDir: string): Int8Export {
  return saveQuantizedCopy(srcModelJson, destDir, { bits: 8 });
}

/**
 * issue 18: the same at `bits` (8 or 4) bits, with the activation ranges of a quantisation-aware
 * copy when given (then its layers' outputs are fake-quantised when it is loaded).
 */
export function saveQuantizedCopy(srcModelJson: string, destDir: string, opts: { bits: 8 | 4; activations?: Record<string, ActivationRange> }): Int8Export {
  const artifacts = readModelArtifacts(srcModelJson);
  const q = quantizeArtifacts(artifacts.weightSpecs ?? [], artifacts.weightData as ArrayBuffer, opts.bits);
  const dtype = `int${opts.bits}`;
  const files = artifactsToFiles({ ...artifacts, weightSpecs: q.weightSpecs, weightData: q.weightData }, {
    distillQuantization: {
      format: quantFormat(opts.bits), version: 1,
      weights: `${dtype}, per-channel affine: value = (q - zeroPoint[c]) * scale[c]; kernels (rank >= 2) only, other weights float32` +
        (opts.bits === 4 ? '; two values per byte, low nibble first' : ''),
      activations: opts.activations ?? 'float32',
      source: path.basename(path.dirname(path.resolve(srcModelJson))),
    },
  });
  writeDirAtomic(destDir, { ...files, 'FORMAT.md': opts.bits === 8 && !opts.activations ? INT8_README : quantReadme(opts.bits, Boolean(opts.activations)) });
  return { bytes: q.bytes, floatBytes: q.floatBytes, fileBytes: q.weightData.byteLength, quantizedWeights: q.quantizedWeights, floatWeights: q.floatWeights };
}

const quantReadme = (bits: 8 | 4, activations: boolean): string => `# int${bits} student (Distill Studio, format "${quantFormat(bits)}", version 1)

Weights are quantised per channel (affine, int${bits}); ${activations ? 'activations are fake-quantised (see below)' : 'activations stay float32'}.

- model.json: a TF.js Layers model.json; each quantised weight of weightsManifest[0].weights has
  "quantization": { "dtype": "int${bits}", "scheme": "per-channel-affine", "axis", "scale": [...], "zeroPoint": [...] }.
  Weights without "quantization" (biases, normalisation parameters) are float32.
- weights.bin: every weight in manifest order, row-major; ${bits === 4
    ? 'int4 for quantised weights: ceil(n/2) bytes per weight, two 4-bit\n  two\'s-complement values per byte, low nibble first (an odd count leaves the last high nibble 0)'
    : 'int8 (1 byte) for quantised weights'}, float32 little-endian (4 bytes) for the others.
- value = (q - zeroPoint[c]) * scale[c], c = the element's index along "axis" (the last axis; axis 2
  for depthwise kernels).
${activations ? `- distillQuantization.activations: layer name → {min, max}. That layer's output y is replaced by
  (clamp(round(y/S) + Z, -128, 127) - Z) * S with lo = min(0, min), hi = max(0, max), S = (hi - lo)/255,
  Z = clamp(round(-128 - lo/S), -128, 127), rounding half away from zero.
` : ''}
Stock TF.js refuses this file (unknown quantization dtype "int${bits}"). Load it with Distill Studio's
loadLayersModelFromFile (src/engine/models/fileIO.ts), which dequantises to float32${activations ? ' and applies the activation ranges' : ''}.
`;

const INT8_README = `# int8 student (Distill Studio, format "${INT8_FORMAT}", version 1)

Weights are quantised per channel (affine, int8); activations stay float32.

- model.json: a TF.js Layers model.json; each quantised weight of weightsManifest[0].weights has
  "quantization": { "dtype": "int8", "scheme": "per-channel-affine", "axis", "scale": [...], "zeroPoint": [...] }.
  Weights without "quantization" (biases, normalisation parameters) are float32.
- weights.bin: every weight in manifest order, row-major; int8 (1 byte) for quantised weights,
  float32 little-endian (4 bytes) for the others.
- value = (q - zeroPoint[c]) * scale[c], c = the element's index along "axis" (the last axis; axis 2
  for depthwise kernels).

Stock TF.js refuses this file (unknown quantization dtype "int8"). Load it with Distill Studio's
loadLayersModelFromFile (src/engine/models/fileIO.ts), which dequantises to float32, or expand
the weights yourself with the formula above.
`;
