/**
 * The live layer check's pure half (issue 20, point 1): an engine answer becomes one problem per
 * wrong name — on the pair's own field, with the closest names — or per pair that cannot be
 * matched; and a text with several mistakes is still probed (the fields the validator rejects are
 * taken out of a copy, never an array item).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'jsonc-parser';
import { closestNames, problemsOfAnswer, repairedText } from '../../src/host/liveLayerProblems';
import type { LayersAnswer } from '../../src/protocol/engine';
import { syntheticExperiment } from '../helpers/experiments';

const layer = (name: string, outputShape: (number | null)[]) => ({ name, type: 'Dense', outputShape, params: 0, flops: 0 });
const answer: LayersAnswer = {
  teacher: [layer('t_conv1', [null, 8, 8, 16]), layer('t_conv2', [null, 4, 4, 32]), layer('logits', [null, 10])],
  student: [layer('s_conv1', [null, 8, 8, 4]), layer('s_conv2', [null, 4, 4, 8]), layer('s_conv3', [null, 2, 2, 8]), layer('logits', [null, 10])],
  links: [
    { entry: 1, pair: 0, method: 'fitnet', teacher: 't_conv1', student: 's_conv9', adapter: '–', error: 'no student layer "s_conv9"' },
    { entry: 1, pair: 1, method: 'at', teacher: 't_conv2', student: 's_conv3', adapter: '–', error: 'at: spatial sizes differ (4×4 vs 2×2)' },
    { entry: 1, pair: 2, method: 'fitnet', teacher: 't_conv2', student: 's_conv2', adapter: 'conv1x1 8→32' },
  ],
  methods: [],
};

test('a wrong student name: on knowledge[e].pairs[p].student, with the closest names (the engine\'s message); a shape problem on the pair', () => {
  const probed = { knowledge: [{}, { pairs: [{ teacher: 't_conv1', student: 's_conv9' }, { teacher: 't_conv2', student: 's_conv3' }, { teacher: 't_conv2', student: 's_conv2' }] }] };
  assert.deepEqual(problemsOfAnswer(answer, probed), [
    { path: ['knowledge', 1, 'pairs', 0, 'student'], value: 's_conv9', message: 'the student has no layer "s_conv9"; closest: "s_conv1", "s_conv2", "s_conv3"' },
    { path: ['knowledge', 1, 'pairs', 1], value: { teacher: 't_conv2', student: 's_conv3' }, message: 'at: spatial sizes differ (4×4 vs 2×2)' },
  ]);
  assert.deepEqual(closestNames('s_conv9', ['logits', 's_conv2', 's_conv1']), ['s_conv2', 's_conv1', 'logits']);
});

test('several mistakes at once: the copy without the rejected fields validates, the pairs keep their indices', () => {
  const exp = syntheticExperiment({
    knowledge: [{ kind: 'response', method: 'kd', temperature: 4, weight: 0.9 },
      { kind: 'feature', method: 'fitnet', weight: 1, pairs: [{ teacher: 'dense_1', student: 'dense_9' }] }],
  }) as Record<string, Record<string, unknown>>;
  exp.training.logEvry = 1; // misspelt
  (exp.knowledge as unknown as Record<string, unknown>[])[0].temprature = 8; // misspelt inside an array item
  const text = JSON.stringify(exp, null, 2);
  const fixed = repairedText(text, '/ws/a.distill.json');
  assert.ok(fixed, 'a copy the validator accepts');
  const copy = parse(fixed) as { training: Record<string, unknown>; knowledge: { pairs?: { student: string }[]; temprature?: number }[] };
  assert.equal(copy.training.logEvry, undefined);
  assert.equal(copy.knowledge[0].temprature, undefined);
  assert.equal(copy.knowledge[1].pairs![0].student, 'dense_9', 'the pair is still knowledge[1].pairs[0]');
  // a text the copy cannot save (a syntax error): nothing to probe
  assert.equal(repairedText(text.replace('"seeds"', 'seeds'), '/ws/a.distill.json'), undefined);
});
