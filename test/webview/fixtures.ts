/** Fixture data of the five panels (as the host would send it), for the Chromium tests. */
import type {
  CompareData, CompressionData, DashboardData, FeatureMapsInit, FeatureMapsResult, PairingData, SeriesData,
} from '../../src/protocol/webviews';

export function lossSeries(job: string, term: string, from: number, n: number, scale = 1): SeriesData {
  const step = Array.from({ length: n }, (_, i) => from + i);
  return {
    name: `${job} · ${term}`, job, term, step, epoch: step.map((s) => s / 100),
    value: step.map((s) => scale * (0.2 + 2 * Math.exp(-s / 150)) * (1 + 0.15 * Math.sin(s * 1.7))),
  };
}

export function dashboard(): DashboardData {
  const terms = ['kd', 'labels', 'total'];
  return {
    title: 'mnist-kd · 20250101-120000', runId: '20250101-120000', state: 'running',
    losses: [...terms.map((t, i) => lossSeries('scratch-s1', t === 'kd' ? 'labels' : t, 1, 300, 1 + i * 0.1)).slice(1),
      ...terms.map((t, i) => lossSeries('distill-s1', t, 1, 300, 1 + i * 0.3))],
    lr: [{ name: 'distill-s1 · lr', job: 'distill-s1', term: 'lr', step: [1, 100, 200, 300], epoch: [0.01, 1, 2, 3], value: [0.001, 0.001, 0.0005, 0.00025] }],
    epochs: [1, 2, 3].flatMap((e) => [
      { job: 'scratch-s1', epoch: e, trainAcc: 0.8 + e * 0.03, valAcc: 0.79 + e * 0.03, testAcc: 0.78 + e * 0.03 },
      { job: 'distill-s1', epoch: e, trainAcc: 0.82 + e * 0.03, valAcc: 0.81 + e * 0.03, testAcc: 0.8 + e * 0.035, agreement: 0.85 + e * 0.03 },
    ]),
    teacherAcc: 0.95,
  };
}

export function pairing(): PairingData {
  const t = [
    { name: 'conv_1', type: 'Conv2D', outputShape: [null, 28, 28, 16], params: 160, flops: 225_792 },
    { name: 'pool_1', type: 'MaxPooling2D', outputShape: [null, 14, 14, 16], params: 0, flops: 12_544 },
    { name: 'conv_2', type: 'Conv2D', outputShape: [null, 14, 14, 32], params: 4_640, flops: 1_806_336 },
    { name: 'dense_1', type: 'Dense', outputShape: [null, 128], params: 802_944, flops: 1_605_632 },
    { name: 'logits', type: 'Dense', outputShape: [null, 10], params: 1_290, flops: 2_570 },
  ];
  const s = [
    { name: 's_conv_1', type: 'Conv2D', outputShape: [null, 28, 28, 4], params: 40, flops: 56_448 },
    { name: 's_pool', type: 'MaxPooling2D', outputShape: [null, 7, 7, 4], params: 0, flops: 3_136 },
    { name: 's_dense', type: 'Dense', outputShape: [null, 32], params: 6_304, flops: 12_544 },
    { name: 's_logits', type: 'Dense', outputShape: [null, 10], params: 330, flops: 650 },
  ];
  return {
    title: 'mnist-cnn-mix', experimentFile: 'mnist-cnn-mix.distill.json', teacher: t, student: s,
    links: [
      { entry: 1, pair: 0, method: 'at', teacher: 'conv_1', student: 's_conv_1', adapter: 'none', adapterShape: [null, 28, 28, 4], loss: [0.9, 0.7, 0.5, 0.45, 0.4, 0.33, 0.3, 0.28] },
      { entry: 2, pair: 0, method: 'fitnet', teacher: 'dense_1', student: 's_dense', adapter: 'dense 32→128', adapterShape: [null, 128], loss: [2, 1.5, 1.2, 1, 0.9, 0.85, 0.8] },
    ],
    methods: [
      { method: 'fitnet', kind: 'feature', title: 'FitNets hints' }, { method: 'at', kind: 'feature', title: 'Attention transfer' },
      { method: 'nst', kind: 'feature', title: 'Neuron selectivity transfer' }, { method: 'rkd-distance', kind: 'relation', title: 'Relational KD: distance' },
    ],
  };
}

const digit = (k: number) => {
  const px: number[] = [];
  for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) px.push(Math.exp(-(((x - 6) ** 2) / 8 + ((y - 6 + (k % 3) - 1) ** 2) / (2 + k % 4))));
  return px;
};

export function featureMapsInit(): FeatureMapsInit {
  return {
    title: 'mnist-cnn-mix · 20250101-120000',
    checkpoints: [{ id: 'distill-s1/epoch-0001', label: 'distill-s1 · epoch 1' }, { id: 'distill-s1/epoch-0002', label: 'distill-s1 · epoch 2' }],
    samples: Array.from({ length: 8 }, (_, i) => ({ id: i, label: i % 10, pixels: digit(i), h: 12, w: 12 })),
    pairs: [{ id: '1:0', label: 'at: conv_1 ↔ s_conv_1' }, { id: '2:0', label: 'fitnet: dense_1 ↔ s_dense' }],
  };
}

export function featureMapsResult(requestId: number): FeatureMapsResult {
  const ch = (n: number, phase: number) => Array.from({ length: n }, (_, c) => Array.from({ length: 14 * 14 }, (_, i) => Math.sin((i % 14) / (2 + c) + phase) * Math.cos(Math.floor(i / 14) / (3 + c))));
  const t = ch(8, 0);
  const s = ch(8, 0.4);
  return {
    type: 'featureMaps', requestId,
    teacher: { channels: t, h: 14, w: 14 }, student: { channels: s, h: 14, w: 14 },
    difference: { channels: s.map((c, k) => c.map((v, i) => v - t[k][i])), h: 14, w: 14 },
    attentionTeacher: { channels: [t[0].map((v, i) => t.reduce((a, c) => a + c[i] ** 2, 0) + v * 0)], h: 14, w: 14 },
    attentionStudent: { channels: [s[0].map((_, i) => s.reduce((a, c) => a + c[i] ** 2, 0))], h: 14, w: 14 },
    teacherShape: [null, 14, 14, 8], studentShape: [null, 14, 14, 8], adapter: 'conv1x1 4→8', cka: 0.8123, cosine: 0.7311, mse: 0.0412, batch: 64,
  };
}

export function compression(): CompressionData {
  return {
    title: 'mnist-kd · 20250101-120000', backend: 'wasm', canExport: true,
    columns: [
      { name: 'teacher', params: 1_199_882, bytes: 4_799_528, flops: 23_932_000, latencyMs: 1.92, testAcc: { mean: 0.9912, std: 0, n: 1 }, compression: 1, speedup: 1 },
      { name: 'scratch student', params: 25_450, bytes: 101_800, flops: 50_816, latencyMs: 0.08, testAcc: { mean: 0.9571, std: 0.0021, n: 3 }, compression: 47.1, speedup: 24, note: 'same architecture as the distilled student, trained on the labels only' },
      { name: 'distilled student', params: 25_450, bytes: 101_800, flops: 50_816, latencyMs: 0.08, testAcc: { mean: 0.9608, std: 0.0012, n: 3 }, agreement: { mean: 0.9634, std: 0.001, n: 3 }, compression: 47.1, speedup: 24 },
      { name: 'distilled (int8)', note: 'not measured: this run\'s report has no int8-quantised student' },
    ],
    layers: [
      { model: 'teacher', name: 'conv_1', type: 'Conv2D', params: 320, flops: 451_584 },
      { model: 'teacher', name: 'dense_1', type: 'Dense', params: 1_179_776, flops: 2_359_296 },
      { model: 'student', name: 'dense_1', type: 'Dense', params: 25_120, flops: 50_176 },
      { model: 'student', name: 'logits', type: 'Dense', params: 330, flops: 640 },
    ],
    perClass: {
      classNames: ['cat', 'dog', 'eel'], support: [10, 10, 10], reference: 'teacher',
      models: [
        { name: 'teacher', acc: [0.9, 0.8, 1], confusion: [[9, 1, 0], [2, 8, 0], [0, 0, 10]] },
        { name: 'scratch student', acc: [0.7, 0.7, 0.9], confusion: [[7, 3, 0], [3, 7, 0], [1, 0, 9]] },
        { name: 'distilled student', acc: [0.9, 0.6, 1], confusion: [[9, 1, 0], [4, 6, 0], [0, 0, 10]] },
      ],
      gaps: [
        { class: 1, name: 'dog', reference: 0.8, distill: 0.6, drop: 0.2 },
        { class: 0, name: 'cat', reference: 0.9, distill: 0.9, drop: 0 },
        { class: 2, name: 'eel', reference: 1, distill: 1, drop: 0 },
      ],
    },
  };
}

export function compare(): CompareData {
  const run = (id: string, k: number) => ({
    id, label: `mnist-kd · ${id}`,
    loss: { step: Array.from({ length: 200 }, (_, i) => i + 1), value: Array.from({ length: 200 }, (_, i) => 0.3 + k * 2 * Math.exp(-i / 60)) },
    acc: { epoch: [1, 2, 3, 4], value: [0.9, 0.93, 0.945, 0.95].map((v) => v - 0.01 * k) },
    finals: { 'distilled test acc': { mean: 0.95 - 0.01 * k, std: 0.002, n: 3 }, 'scratch test acc': { mean: 0.94, std: 0.003, n: 3 } },
  });
  return {
    title: 'run-a vs run-b', runs: [run('run-a', 1), run('run-b', 2)],
    config: [
      { key: 'name', values: ['"mnist-kd"', '"mnist-kd"'], differs: false },
      { key: 'knowledge[0].temperature', values: ['4', '8'], differs: true },
      { key: 'training.epochs', values: ['4', '4'], differs: false },
      { key: 'labels.weight', values: ['0.5', '0.1'], differs: true },
    ],
  };
}
