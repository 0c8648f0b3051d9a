/**
 * issue 18: the `figures` probe of the TF.js engine — an experiment's student measured as the
 * report measures it (src/engine/results/report.ts): parameters, float32 bytes and FLOPs per sample
 * (src/engine/metrics/modelStats.ts), latency per sample at batch 1 (a zero batch, 5 warm-up and 30
 * timed predicts, the median), plus the Conv2D layers its derive swapped. A student search measures
 * every candidate with it before it trains any (src/engine/search.ts). Fresh seeded weights: the
 * figures do not depend on them.
 */
import * as path from 'path';
import { parseExperimentText, loadExperiment } from '../../config/parse';
import type { ExperimentConfig } from '../../config/types';
import type { FiguresAnswer } from '../../protocol/engine';
import { measureLatency, modelStats } from '../metrics/modelStats';
import { deriveStudent, resolveModel } from '../models';
import { modelFromTopology } from '../models/deriveGraph';
import { prepareData } from '../data';
import { modelInputShape } from '../training/evaluate';

export async function studentFigures(experimentFile: string, text?: string): Promise<FiguresAnswer> {
  const file = path.resolve(experimentFile);
  const loaded = text !== undefined ? parseExperimentText(text, file) : loadExperiment(file);
  const first = loaded.errors.find((e) => e.severity === 'error');
  if (!loaded.config || first) {
    throw new Error(`${path.basename(file)} is not a valid experiment${first ? ` (line ${first.location.line}: ${first.message})` : ''}`);
  }
  const cfg: ExperimentConfig = loaded.config;
  const base = path.dirname(file);
  const seed = cfg.seeds[0];
  let swapped = 0;
  let model;
  if ('derive' in cfg.student) {
    const arch = await deriveStudent(cfg.student, base);
    swapped = arch.swapped.length;
    model = await modelFromTopology(arch.topology, seed);
  } else {
    model = await resolveModel(cfg.student, base, seed);
  }
  try {
    const declared = model.inputs[0].shape.slice(1);
    const shape = declared.every((d) => d !== null) ? declared as number[]
      : modelInputShape(model, prepareData(cfg.data, base).shape, 'student');
    const s = modelStats(model);
    const lat = await measureLatency(model, shape, { batch: 1, warmup: 5, runs: 30 });
    return { student: { params: s.params, bytes: s.bytes, flops: s.flops, latencyMsPerSample: lat.msPerSample }, swapped };
  } finally {
    model.dispose();
  }
}
