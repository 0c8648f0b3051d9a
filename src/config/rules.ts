/**
 * The rules a JSON Schema cannot express (they need no file system): a teacher for every scheme but
 * `self`, shapes that fit their kind, pairs per method, epochs a hint or a warm-up fits in,
 * optimizer and schedule fields only where they are read, a teacher to derive a student from, …
 * Pure: they read the config the schema interpreter produced and return problems; they change
 * nothing (filling what the rules imply is normalize.ts's job).
 */
import type { Node } from 'jsonc-parser';
import { containerRange, rangeInTree } from './errors';
import type { JsonPath } from './errors';
import type { ExperimentConfig, FspPair, LayerPair, TrainingConfig } from './types';
import { closest } from './names';
import type { Problem } from './schema';
import { experimentSchema } from './schema';
import { findPath, propertyValue } from './phrases';
import { quantizeChecks } from './quantizeRules';
import { adversarialChecks } from './rules/adversarial';
import { searchChecks } from './searchRules';
import { dataFreeChecks } from './dataFreeRules';

const MISSING_TEACHER = 'missing required field "teacher" (only scheme "self" works without a teacher)';

/**
 * `teacher` is optional in the schema (scheme `self` needs none) but every other scheme needs one.
 * Checked with the schema errors so that it is reported together with them; skipped when the
 * scheme is invalid (its kind unknown) or when a misspelt key was already reported as the teacher.
 */
export function checkTeacherPresent(root: Node, value: unknown, problems: Problem[]): void {
  if (root.type !== 'object' || propertyValue(root, 'teacher')) return;
  const kind = (value as Partial<ExperimentConfig> | undefined)?.scheme?.kind;
  if (kind === undefined || kind === 'self') return;
  const known = Object.keys(experimentSchema.properties ?? {});
  const misspelt = (root.children ?? []).some((prop) => {
    const key = prop.children?.[0]?.value as string | undefined;
    return key !== undefined && !known.includes(key) && closest(key, known) === 'teacher';
  });
  if (misspelt) return;
  problems.push({ path: [], message: MISSING_TEACHER, ...containerRange(root), severity: 'error' });
}

export function semanticChecks(root: Node, value: unknown, problems: Problem[]): void {
  const config = value as ExperimentConfig;
  const at = (path: JsonPath, message: string, severity: 'error' | 'warning' = 'error'): void => {
    problems.push({ path, message, ...rangeInTree(root, path), severity });
  };
  const epochs = config.training.epochs;

  dataFreeChecks(config, at); // issue 18: data.train "teacher-synthesized" (dataFreeRules.ts)

  // Synthetic data: the shape must match the kind.
  for (const split of ['train', 'test'] as const) {
    const src = config.data[split];
    if (src.format !== 'synthetic') continue;
    const want = src.kind === 'images' ? 3 : 1;
    if (src.shape.length !== want) {
      const what = src.kind === 'images' ? '3 dimensions [H, W, C]' : '1 dimension [D]';
      at(['data', split, 'shape'], `expected ${what} for kind "${src.kind}", found [${src.shape.join(', ')}]`);
    }
  }

  // issue 16: augmentation moves pixels, so the training data must be images [H, W, C].
  const aug = config.data.augment;
  const trainSrc = config.data.train;
  const vectors = (trainSrc.format === 'synthetic' && trainSrc.kind === 'vectors') || (trainSrc.format === 'csv' && (trainSrc.shape?.length ?? 1) !== 3);
  if (aug && vectors) {
    for (const key of ['shift', 'crop', 'flip'] as const) {
      if (aug[key]) {
        at(['data', 'augment', key], `augments images, but the training data are vectors (${trainSrc.format === 'csv' ? 'a CSV file without a [H, W, C] "shape"' : 'synthetic kind "vectors"'})`);
      }
    }
  }

  // Scheme ↔ teacher. (A missing teacher is reported with the schema errors.)
  const scheme = config.scheme;
  if (scheme.kind === 'online' && config.teacher) {
    if ('model' in config.teacher) {
      at(['teacher', 'model'],
        'scheme "online" trains the teacher together with the students, so it must be built fresh from a module ' +
        '({"module", "export"}); a pre-trained model.json teacher is frozen — use scheme "offline"');
    }
    if (config.teacher.train) {
      at(['teacher', 'train'],
        'scheme "online" trains the teacher together with the students (with "training"), so it is not trained first: remove "train"');
    }
  }
  if (scheme.kind === 'self') {
    if (config.teacher) {
      at(['teacher'], 'scheme "self" uses no teacher (the student teaches itself through auxiliary heads): this teacher is ignored', 'warning');
    }
    const seen = new Map<string, number>();
    scheme.heads.forEach((head, i) => {
      const first = seen.get(head.layer);
      if (first === undefined) seen.set(head.layer, i);
      else at(['scheme', 'heads', i, 'layer'], `duplicate head on layer ${JSON.stringify(head.layer)} (same as heads[${first}])`);
    });
  }

  // Knowledge entries. Layer names are checked by the engine, which has the models.
  config.knowledge.forEach((k, i) => {
    const here: JsonPath = ['knowledge', i];
    if (k.kind !== 'response') {
      const pairs: (LayerPair | FspPair)[] = k.pairs ?? [];
      const seen = new Map<string, number>();
      pairs.forEach((p, j) => {
        const key = JSON.stringify([p.teacher, p.student]);
        const first = seen.get(key);
        if (first === undefined) {
          seen.set(key, j);
          return;
        }
        const name = (l: string | string[]): string => (Array.isArray(l) ? `[${l.map((s) => JSON.stringify(s)).join(', ')}]` : JSON.stringify(l));
        at([...here, 'pairs', j],
          `duplicate layer pair: teacher ${name(p.teacher)} and student ${name(p.student)} are already paired in pairs[${first}] (the term would count them twice)`,
          'warning');
      });
    }
    const longer = (n: number): string => `(${n} epochs) is longer than the training ("training.epochs": ${epochs})`;
    if (k.schedule.kind === 'linear-warmup' && k.schedule.epochs > epochs) {
      at([...here, 'schedule', 'epochs'], `the warm-up ${longer(k.schedule.epochs)}: this term never reaches its full weight`, 'warning');
    }
    if (k.method === 'dkd' && k.warmup > epochs) {
      at([...here, 'warmup'], `the warm-up ${longer(k.warmup)}: this term never reaches its full weight`, 'warning');
    }
    if (k.method === 'multi-kd' && k.teacherWeight === 0 && k.teachers.every((t) => t.weight === 0)) {
      at([...here, 'teacherWeight'], 'every teacher of this multi-kd term has weight 0: give "teacherWeight" or one of "teachers" a weight > 0');
    }
    // --- issue 17 ---
    if (k.method === 'dist' && k.gamma > 0 && config.training.batchSize === 1) {
      at([...here, 'gamma'], 'dist: the intra-class relation compares the samples of a batch, and "training.batchSize" is 1: it is constant and teaches nothing. Raise "training.batchSize" or set "gamma" to 0', 'warning');
    }
    if (k.method === 'ctkd' && k.initialTemperature !== undefined
      && !(k.initialTemperature > k.minTemperature && k.initialTemperature < k.minTemperature + k.temperatureRange)) {
      at([...here, 'initialTemperature'], `ctkd: the temperature spans minTemperature ${k.minTemperature} … minTemperature + temperatureRange ${k.minTemperature + k.temperatureRange} (exclusive): give an initialTemperature inside it, or widen "temperatureRange"`);
    }
    if (k.method === 'ctkd' && k.reversalEpochs > epochs) {
      at([...here, 'reversalEpochs'], `the reversal curriculum ${longer(k.reversalEpochs)}: the temperature never meets its full reversal weight (maxReversal)`, 'warning');
    }
    if (k.method === 'reviewkd' && k.pairs.length === 1) {
      at([...here, 'pairs'], 'reviewkd with one stage has nothing to review (no deeper stage to fuse): it is then a 3×3-convolution hint; list several stages, shallowest first, or use "fitnet"', 'warning');
    }
    // --- end issue 17 ---
    if (k.method === 'fitnet' && k.hintEpochs !== undefined && k.hintEpochs >= epochs) {
      at([...here, 'hintEpochs'],
        `the hint stage (${k.hintEpochs} epochs) must be shorter than the training ("training.epochs": ${epochs}), or no epoch is left to train the whole student`);
    }
  });

  adversarialChecks(config, at); // issue 18

  // The total loss must have at least one term with a positive weight.
  const weights = [...config.knowledge.map((k) => k.weight), config.labels.weight];
  if (weights.every((w) => w === 0)) {
    const path = findPath(root, ['labels', 'weight']) ?? ['labels'];
    at(path, 'every loss term has weight 0: give "labels" or a "knowledge" entry a weight > 0');
  }
  // Online and self schemes distil through their peers / heads even without knowledge entries.
  if (config.knowledge.length === 0 && scheme.kind !== 'online' && scheme.kind !== 'self') {
    at(['knowledge'], 'no knowledge entries: the student learns from the labels only, like the baseline', 'warning');
  }

  if (config.knowledge.length > 0 && (scheme.kind === 'online' || scheme.kind === 'self')) {
    at(['knowledge'], scheme.kind === 'online'
      ? 'scheme "online" does not use these entries: the peers learn from each other through the mutual KL (see "scheme.temperature")'
      : 'scheme "self" does not use these entries: the auxiliary heads learn from the network\'s own output and features', 'warning');
  }

  // Optimizers: momentum is only read by `momentum` and `rmsprop`; `momentum` defaults to 0.9.
  const trainings: [JsonPath, TrainingConfig | undefined][] = [
    [['training'], config.training],
    [['teacher', 'train'], config.teacher?.train],
    [['student', 'train'], 'derive' in config.student ? undefined : config.student.train],
  ];
  if (scheme.kind === 'ta-chain') {
    scheme.assistants.forEach((a, i) => trainings.push([['scheme', 'assistants', i, 'train'], a.train]));
  }
  for (const [path, training] of trainings) {
    if (!training) continue;
    const opt = training.optimizer;
    if (opt.momentum !== undefined && (opt.kind === 'adam' || opt.kind === 'sgd')) {
      at([...path, 'optimizer', 'momentum'], `ignored by the "${opt.kind}" optimizer (only "momentum" and "rmsprop" use it)`, 'warning');
    }
    const every = training.checkpointEvery;
    if (every && every.steps === undefined && every.minutes === undefined) {
      at([...path, 'checkpointEvery'], 'expected "steps" and/or "minutes" (e.g. { "minutes": 1 }), found an empty object');
    }
    // Learning-rate schedules.
    const schedule = opt.schedule ?? 'constant';
    if ((opt.warmupEpochs ?? 0) >= training.epochs) {
      at([...path, 'optimizer', 'warmupEpochs'], `the warm-up (${opt.warmupEpochs} epochs) must be shorter than the training (${training.epochs} epochs)`);
    }
    if (opt.minLearningRate !== undefined && opt.minLearningRate > 0 && opt.minLearningRate >= opt.learningRate) {
      at([...path, 'optimizer', 'minLearningRate'], `must be below learningRate (${opt.learningRate}): the cosine schedule decays from learningRate to minLearningRate`);
    }
    if (schedule === 'step' && opt.stepEpochs === undefined) {
      at([...path, 'optimizer', 'schedule'], 'schedule "step" needs "stepEpochs" (the period in epochs, e.g. 10) beside it');
    }
    const onlyFor: Array<['minLearningRate' | 'stepEpochs' | 'gamma', string]> = [['minLearningRate', 'cosine'], ['stepEpochs', 'step'], ['gamma', 'step']];
    for (const [key, owner] of onlyFor) {
      if (opt[key] !== undefined && schedule !== owner) {
        at([...path, 'optimizer', key], `ignored by schedule "${schedule}" (only "${owner}" uses it)`, 'warning');
      }
    }
  }

  // A derived student is built from the teacher's architecture.
  if ('derive' in config.student && (scheme.kind === 'self' || !config.teacher)) {
    at(['student', 'derive'], scheme.kind === 'self'
      ? 'scheme "self" has no teacher to derive the student from: give the student as a "model" or a "module"'
      : 'a derived student needs a teacher to derive it from: add "teacher"');
  }

  quantizeChecks(config, at); // issue 18: student.quantize (quantizeRules.ts)
  // issue 18: a student search (src/config/searchRules.ts).
  searchChecks(config, at);
}
