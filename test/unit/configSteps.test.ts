/**
 * The validator's steps apart (src/config/validate.ts): the semantic rules only report — they leave
 * the config as the schema interpreter produced it — and normalisation alone fills in what the rules
 * imply (momentum 0.9, a derived student's teacher, no teacher for self-distillation), which the
 * validated config then carries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTree } from 'jsonc-parser';
import { parseExperimentText } from '../../src/config/parse';
import { normalize } from '../../src/config/normalize';
import { semanticChecks } from '../../src/config/rules';
import { experimentSchema, Validator } from '../../src/config/schema';
import type { Problem } from '../../src/config/schema';
import type { ExperimentConfig } from '../../src/config/types';
import { syntheticExperiment } from '../helpers/experiments';

const momentum = { epochs: 2, batchSize: 32, optimizer: { kind: 'momentum', learningRate: 0.01 } };

function interpreted(exp: Record<string, unknown>): { root: NonNullable<ReturnType<typeof parseTree>>; value: ExperimentConfig } {
  const text = JSON.stringify(exp, null, 2);
  const root = parseTree(text)!;
  const v = new Validator(experimentSchema, text);
  const value = v.check(root, experimentSchema, []) as ExperimentConfig;
  assert.deepEqual(v.problems, []);
  return { root, value };
}

test('the semantic rules change nothing; normalisation fills momentum, a derived student\'s teacher, and drops a self scheme\'s teacher', () => {
  const derived = interpreted(syntheticExperiment({ training: momentum, student: { derive: { width: 0.5 } } }));
  const before = structuredClone(derived.value);
  const problems: Problem[] = [];
  semanticChecks(derived.root, derived.value, problems);
  assert.deepEqual(problems.filter((p) => p.severity === 'error'), []);
  assert.deepEqual(derived.value, before, 'the rules are pure');
  const n = normalize(derived.value);
  assert.equal(n.training.optimizer.momentum, 0.9);
  assert.deepEqual((n.student as { from?: unknown }).from, before.teacher);

  const self = interpreted(syntheticExperiment({ scheme: { kind: 'self', heads: [{ layer: 'dense_1' }] } }));
  const selfBefore = structuredClone(self.value);
  const selfProblems: Problem[] = [];
  semanticChecks(self.root, self.value, selfProblems);
  assert.deepEqual(self.value, selfBefore, 'the rules are pure');
  assert.ok(selfProblems.some((p) => p.severity === 'warning' && /teacher/.test(p.message)), 'the ignored teacher is warned about');
  assert.equal(normalize(self.value).teacher, undefined);
});

test('the validated config is the normalised one (what config.json records)', () => {
  const { config, errors } = parseExperimentText(JSON.stringify(syntheticExperiment({ training: momentum })), '/x/exp.distill.json');
  assert.deepEqual(errors.filter((e) => e.severity === 'error'), []);
  assert.equal(config!.training.optimizer.momentum, 0.9);
});
