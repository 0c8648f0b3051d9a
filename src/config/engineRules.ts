/**
 * What each engine can do (issue 14): the file's `engine` (`tfjs` when absent) decides which model
 * specs and fields are allowed, and each one the engine cannot use is one located problem that says
 * how to fix it — set the other engine, or use what this one reads. Pure, like rules.ts.
 *
 *   tfjs:  models are a TF.js `model.json` or a `.ts`/`.js` module; `backend` picks the compute;
 *          `device`, `precision`, `weights`, `{ "torchvision" }` and `.py` modules are torch's.
 *   torch: models are a `.py` module (+ `weights`, a state_dict), `{ "torchvision" }` or a
 *          TorchScript file (`{ "model": "teacher.pt" }`); `device` / `precision` say where and how;
 *          `backend` and TF.js models (`model.json`, `.ts`/`.js` modules) are tfjs's.
 * Data formats and every other field are the same for both engines (the torch engine reads every
 * format of src/config/types.ts).
 *
 * Fields are checked as written in the file (`backend` has a schema default, so its presence in the
 * config says nothing).
 */
import type { Node } from 'jsonc-parser';
import { rangeInTree } from './errors';
import type { JsonPath } from './errors';
import { propertyValue } from './phrases';
import type { Problem } from './schema';
import type { EngineName, ExperimentConfig, StudentSpec } from './types';

const JS_MODULE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/i;
const PY_MODULE = /\.py$/i;

/** The engine of a validated config (`tfjs` when the file does not say). */
export function engineOf(config: Pick<ExperimentConfig, 'engine'>): EngineName {
  return config.engine ?? 'tfjs';
}

/** Every model spec of the experiment with the JSON path of its object. */
export function modelSpecsOf(config: ExperimentConfig): { at: JsonPath; spec: StudentSpec }[] {
  const out: { at: JsonPath; spec: StudentSpec }[] = [];
  if (config.teacher) out.push({ at: ['teacher'], spec: config.teacher });
  out.push({ at: ['student'], spec: config.student });
  if (config.scheme.kind === 'ta-chain') config.scheme.assistants.forEach((a, i) => out.push({ at: ['scheme', 'assistants', i], spec: a }));
  config.knowledge.forEach((k, i) => {
    if (k.method === 'multi-kd') k.teachers.forEach((t, j) => out.push({ at: ['knowledge', i, 'teachers', j], spec: t }));
  });
  return out;
}

export function engineChecks(root: Node, config: ExperimentConfig, problems: Problem[]): void {
  const at = (path: JsonPath, message: string): void => {
    problems.push({ path, message, ...rangeInTree(root, path), severity: 'error' });
  };
  const written = (key: string): boolean => root.type === 'object' && propertyValue(root, key) !== undefined;
  const engine = engineOf(config);

  if (engine === 'tfjs') {
    const setTorch = 'set "engine": "torch" to train with PyTorch';
    if (written('device')) at(['device'], `"device" is read by the torch engine only: ${setTorch}, or remove it (the TF.js engine's compute is "backend")`);
    if (written('precision')) at(['precision'], `"precision" is read by the torch engine only: ${setTorch}, or remove it (the TF.js engine trains in float32)`);
    if (written('distributed')) at(['distributed'], `"distributed" (data-parallel runs) is read by the torch engine only: ${setTorch}, or remove it (the TF.js engine trains in one process)`);
    for (const { at: where, spec } of modelSpecsOf(config)) {
      if ('derive' in spec) continue;
      if ('torchvision' in spec) {
        at([...where, 'torchvision'], `torchvision models run on the torch engine only: ${setTorch}`);
        continue;
      }
      if ('module' in spec && PY_MODULE.test(spec.module)) {
        at([...where, 'module'], `${JSON.stringify(spec.module)} is a Python module, which the TF.js engine cannot load: ${setTorch} (the TF.js engine loads .ts and .js modules)`);
      }
      if ('model' in spec && !/\.json$/i.test(spec.model)) {
        at([...where, 'model'], `expected a TF.js Layers model.json, found ${JSON.stringify(spec.model)}: a TorchScript file needs "engine": "torch"`);
      }
      if (!('model' in spec) && spec.weights !== undefined) {
        at([...where, 'weights'], `"weights" (a PyTorch state_dict) is read by the torch engine only: ${setTorch}, or remove it (a TF.js module builds its own weights)`);
      }
    }
    return;
  }

  // torch
  if (written('backend')) {
    at(['backend'], '"backend" picks the TF.js engine\'s compute; the torch engine trains where "device" says (auto, cpu, cuda, cuda:N, mps): remove "backend"');
  }
  const setTfjs = 'or set "engine": "tfjs"';
  const processes = config.distributed?.processes ?? 1;
  if (processes > 1) {
    // The global batch is split evenly among the processes (python/distill_torch/distributed.py refuses the same).
    const batches: { at: JsonPath; size: number }[] = [{ at: ['training', 'batchSize'], size: config.training.batchSize }];
    if (config.teacher && 'train' in config.teacher && config.teacher.train) batches.push({ at: ['teacher', 'train', 'batchSize'], size: config.teacher.train.batchSize });
    for (const b of batches) {
      if (b.size % processes !== 0) {
        at(b.at, `batchSize ${b.size} is the global batch of ${processes} processes ("distributed") and must divide evenly among them: use a multiple of ${processes}`);
      }
    }
  }
  for (const { at: where, spec } of modelSpecsOf(config)) {
    if ('derive' in spec || 'torchvision' in spec) continue;
    if ('module' in spec && !PY_MODULE.test(spec.module)) {
      const what = JS_MODULE.test(spec.module) ? 'a TF.js module' : 'not a Python module';
      at([...where, 'module'], `the torch engine loads Python modules (.py); ${JSON.stringify(spec.module)} is ${what}: give a .py module whose "export" returns an nn.Module, ${setTfjs}`);
    }
    if ('model' in spec && /\.json$/i.test(spec.model)) {
      at([...where, 'model'], `the torch engine cannot load a TF.js model.json (${JSON.stringify(spec.model)}): give a TorchScript file (torch.jit.save) or { "module": "models.py", "export": …, "weights": "….pt" }, ${setTfjs}`);
    }
  }
}
