/**
 * Checks an experiment against its models before anything trains: every architecture builds and
 * fits the data and the classes, every layer pair resolves and can be matched (with the adapter
 * rules), every self-distillation head names a layer. Used by a run before its first step, and by
 * `distill check` (which the editor runs on save to show these problems in place).
 */
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { BackendName, ConfigError, ExperimentConfig } from '../config/types';
import { loadExperiment } from '../config/parse';
import { locate } from '../config/errors';
import { engineOf } from '../config/engineRules';
import type { PreparedData } from './data';
import { prepareData } from './data';
import { modelInputShape, outputWidth } from './training/evaluate';
import { buildTerms, disposeTerms, KnowledgeError } from './knowledge/terms';
import type { KnowledgeProblem } from './knowledge/terms';
import { checkHeads } from './schemes/self';
import { modelLabel, modelPath, modelSpec, planJobs } from './training/jobs';
import { initBackend } from './backend';
import { DeriveError, deriveStudent, resolveModel } from './models';
import { batchSizeWarnings, durationWarning, measureAndEstimate } from './training/budget';
import { dataFreeShapeProblems, dataFreeTeacherProblems } from './synthesis/dataFreeCheck';

/**
 * Budget warnings that need the data and the machine (budget.ts): a batchSize beyond the training
 * split, and a training time estimated (from a few measured steps) at more than a day.
 */
async function budgetProblems(c: ExperimentConfig, file: string, text: string, data: PreparedData, base: string): Promise<ConfigError[]> {
  const label = (model: string) => modelLabel(c, model);
  // A step that cannot be timed is not a problem of the file: the estimate is then left out.
  const estimate = await measureAndEstimate(c, planJobs(c), data, (model) => resolveModel(modelSpec(c, model), base, c.seeds[0]), label)
    .catch(() => undefined);
  const long = estimate ? durationWarning(estimate, label) : undefined;
  return [...batchSizeWarnings(c, data.train.size), ...(long ? [long] : [])]
    .map((w) => ({ file, path: w.path, location: locate(text, w.path), message: w.message, severity: 'warning' as const }));
}

/**
 * Problems of the models, located in the experiment file. Build errors (an input shape that does
 * not fit the data, labels beyond the outputs, different output widths) are thrown as they are.
 */
export async function checkModels(c: ExperimentConfig, file: string, text: string, data: PreparedData,
  resolve: (model: string) => Promise<tf.LayersModel>, who: (model: string) => string): Promise<ConfigError[]> {
  const problems: KnowledgeProblem[] = [];
  const built = new Map<string, tf.LayersModel>();
  const build = async (model: string) => {
    if (!built.has(model)) {
      const m = await resolve(model);
      built.set(model, m);
      modelInputShape(m, data.shape, who(model));
      const width = outputWidth(m);
      if (data.numClasses > width) {
        throw new Error(`data: labels go up to ${data.numClasses - 1}, but the ${who(model)} has ${width} outputs ` +
          `(labels must be in 0..${width - 1})`);
      }
    }
    return built.get(model)!;
  };
  try {
    const student = await build('student');
    const teacherModel = c.teacher ? await build('teacher') : undefined;
    if (teacherModel && outputWidth(student) !== outputWidth(teacherModel)) {
      throw new Error(`${who('student')}: its output has ${outputWidth(student)} units, the teacher's has ${outputWidth(teacherModel)}; ` +
        'distillation needs the same classes on both');
    }
    problems.push(...dataFreeTeacherProblems(c, teacherModel)); // issue 18: DeepInversion needs BN layers
    problems.push(...dataFreeShapeProblems(c, data.shape)); // jitter / flip need images larger than the jitter
    const jobs = planJobs(c);
    const stages = new Set<string>();
    for (const j of Object.values(jobs)) {
      if (j.kind === 'distill') stages.add(`${j.teacher === 'teacher' ? 'teacher' : jobs[j.teacher!].model}|${j.model}`);
    }
    for (const stage of stages) {
      const [t, s] = stage.split('|');
      try {
        disposeTerms(buildTerms(c, 'distill', { teacher: await build(t), student: await build(s!) }, { adapterPrefix: 'check', trainLabels: data.train.y }));
      } catch (e) {
        if (!(e instanceof KnowledgeError)) throw e;
        for (const p of e.problems) if (!problems.some((q) => q.message === p.message)) problems.push(p);
      }
    }
    if (c.scheme.kind === 'self') {
      for (const h of checkHeads(student, c.scheme)) problems.push({ path: ['scheme', 'heads', h.index, 'layer'], message: h.message });
    }
  } finally {
    for (const m of built.values()) m.dispose();
  }
  return problems.map((p) => ({ file, path: p.path, location: locate(text, p.path), message: p.message, severity: 'error' }));
}

/**
 * Everything `distill check` reports for an experiment file: the validator's problems, then (when
 * there is none) the data and model checks. Never throws for a problem of the experiment: it
 * becomes a ConfigError, located at the part of the file it comes from.
 */
export async function checkExperiment(experimentFile: string, backend?: BackendName, python?: string): Promise<ConfigError[]> {
  const file = path.resolve(experimentFile);
  const loaded = loadExperiment(file);
  if (!loaded.config || loaded.errors.some((e) => e.severity === 'error')) return loaded.errors;
  const c = loaded.config;
  const text = loaded.text ?? '';
  // issue 14: the torch engine checks its own data, models and pairs (its `prepare`), located the same way.
  if (engineOf(c) === 'torch') return [...loaded.errors, ...await (await import('./torch/bridge')).checkTorch(file, text, c, python)];
  const { errors, data } = await checkDataAndModels(file, text, c, backend);
  if (errors.length || !data) return [...loaded.errors, ...errors];
  const base = path.dirname(file);
  try {
    const warnings = await deriveWarnings(c, file, text, base);
    // Every sweep point, once the base experiment is clean: refusals only a point's values cause.
    const points = c.sweep ? await (await import('./sweepCheck')).checkSweepPoints(file, text, c, data) : [];
    // issue 18: a search's candidates that cannot be derived (src/engine/search/check.ts)
    const search = c.search ? await (await import('./search/check')).checkSearchSpace(file, text, c, base) : [];
    const budget = points.some((p) => p.severity === 'error') ? [] : await budgetProblems(c, file, text, data, base);
    return [...loaded.errors, ...warnings, ...points, ...search, ...budget];
  } catch (e) {
    if (e instanceof DeriveError) return [...loaded.errors, { file, path: e.path, location: locate(text, e.path), message: e.message, severity: 'error' }];
    throw e;
  }
}

/**
 * The data and model checks of a valid experiment (what `check` adds to the validator, and what
 * `distill run` does before it creates a run folder): the data is read and prepared, every model
 * builds and fits it, every pair resolves. Returns the located problems, and the prepared data
 * when there is none (the run then uses it instead of reading the files again).
 */
export async function checkDataAndModels(file: string, text: string, c: ExperimentConfig, backend?: BackendName,
  /** Filled with each model's parameter count (`student`, `teacher`, `assistant:<i>`), for the pre-flight's disk estimate. */
  params?: Map<string, number>): Promise<{ errors: ConfigError[]; data?: PreparedData }> {
  const at = (p: (string | number)[], message: string): ConfigError =>
    ({ file, path: p, location: locate(text, p), message, severity: 'error' });
  const base = path.dirname(file);
  let current = 'student';
  try {
    await initBackend(backend ?? c.backend);
    let data: PreparedData;
    try {
      data = prepareData(c.data, base);
    } catch (e) {
      const field = (e as { field?: string }).field;
      return { errors: [at(field ? field.split('.') : ['data'], withoutField((e as Error).message, field))] };
    }
    const errors = await checkModels(c, file, text, data, async (model) => {
      current = model;
      const m = await resolveModel(modelSpec(c, model), base, c.seeds[0]);
      params?.set(model, m.countParams());
      return m;
    }, (model) => modelLabel(c, model));
    return errors.length ? { errors } : { errors, data };
  } catch (e) {
    if (e instanceof DeriveError) return { errors: [at(e.path, e.message)] };
    const message = (e as Error).message;
    const p = message.startsWith('data:') ? ['data'] : modelPath(current);
    return { errors: [at(p, message.startsWith('data: ') ? message.slice('data: '.length) : message)] };
  }
}

/** A derived student's warnings (e.g. `depth` dropping fewer blocks than it asks for), located at its field. */
async function deriveWarnings(c: ExperimentConfig, file: string, text: string, base: string): Promise<ConfigError[]> {
  if (!('derive' in c.student)) return [];
  const arch = await deriveStudent(c.student, base);
  const p = ['student', 'derive', 'depth'];
  return arch.warnings.map((message) => ({ file, path: p, location: locate(text, p), message, severity: 'warning' as const }));
}

/** A data error's message without its leading `<field>: ` (the located error prints the field once). */
function withoutField(message: string, field: string | undefined): string {
  return field && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}
