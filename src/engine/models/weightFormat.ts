/**
 * What a model.json's weights are stored as, read from the file itself (its manifest, no weights
 * loaded): float32, or the int8 format of quantize.ts — so `inspect`, report.json and the CLI table
 * give an int8 model its own size and name its format instead of the float32 size it has once loaded
 * (loading dequantises).
 */
import * as fs from 'fs';
import * as path from 'path';
import { INT8_FORMAT } from './quantize';
import type { Int8Quantization } from './quantize';

export interface WeightFormat {
  /** `float32`, or `distill-int8-per-channel` (quantize.ts). */
  format: 'float32' | typeof INT8_FORMAT;
  version?: number;
  /** Bytes of the weights as stored: int8 values + per-channel scales (float32) and zero points (int8), other weights float32. */
  bytes: number;
  /** Bytes of the same weights in float32. */
  floatBytes: number;
  quantizedWeights: number;
  /** Bytes as stored per layer (the manifest name's part before the first `/`). */
  layers: Record<string, number>;
}

interface ManifestEntry { name: string; shape: number[]; dtype?: string; quantization?: Partial<Int8Quantization> & { dtype?: string } }

/** The weight format of the model.json at `file`; undefined when it cannot be read as one. */
export function weightFormatOf(file: string): WeightFormat | undefined {
  let json: { weightsManifest?: { weights?: ManifestEntry[] }[]; distillQuantization?: { format?: string; version?: number } };
  try {
    json = JSON.parse(fs.readFileSync(path.resolve(file), 'utf8')) as typeof json;
  } catch {
    return undefined;
  }
  let bytes = 0;
  let floatBytes = 0;
  let quantizedWeights = 0;
  const layers: Record<string, number> = {};
  for (const group of json.weightsManifest ?? []) {
    for (const w of group.weights ?? []) {
      const n = (w.shape ?? []).reduce((a, b) => a * b, 1);
      floatBytes += 4 * n;
      const b = w.quantization?.dtype === 'int8' ? n + 5 * (w.quantization.scale?.length ?? 0) : 4 * n;
      if (w.quantization?.dtype === 'int8') quantizedWeights++;
      bytes += b;
      const layer = w.name.split('/')[0];
      layers[layer] = (layers[layer] ?? 0) + b;
    }
  }
  if (quantizedWeights === 0) return { format: 'float32', bytes, floatBytes, quantizedWeights, layers };
  return { format: INT8_FORMAT, version: json.distillQuantization?.version ?? 1, bytes, floatBytes, quantizedWeights, layers };
}

/** One line naming an int8 model's format and its size against float32. */
export function int8Line(w: WeightFormat): string {
  return `int8 weights (format "${w.format}" v${w.version ?? 1}: per-channel affine int8 kernels, float32 biases and activations; ` +
    `${w.quantizedWeights} quantised tensor${w.quantizedWeights === 1 ? '' : 's'}): ${w.bytes.toLocaleString('en-US')} bytes — ` +
    `${(w.floatBytes / w.bytes).toFixed(2)}× smaller than its float32 weights (${w.floatBytes.toLocaleString('en-US')} bytes); loaded dequantised to float32`;
}
