/**
 * `npm run bench`: KD training speed, ours against its peers, measured side by side in one run.
 *
 * Rows: KD step CNN (teacher conv 32/64 → student 8/16, 28×28×1), KD step MLP (784-1200-1200-10 →
 * 784-800-800-10), KD epoch on the full MNIST (each pair, 938 steps of 64), and the two products
 * that dominate those steps on their own (GEMM 64×784·784×800, the teacher's 3×3 conv 32→64 on
 * 64×14×14): they show the raw arithmetic ceiling of WebAssembly SIMD against PyTorch's BLAS.
 * Columns: ours (wasm + the project's kernels, teacher outputs cached for the epoch), stock wasm
 * (only the kernels tfjs lacks added), the cpu backend, PyTorch (bench/peer_torch.py, Debian's
 * python3-torch + OpenBLAS, 2 threads) and the ratios. Step = teacher forward without gradient +
 * student forward/backward + Adam, loss = CE + T²·KL at T = 4, batch 64; medians over repeats.
 * Ours runs the teacher in the engine's teacher thread, one batch ahead (a second row: in the main
 * thread); its steady-state step is bounded by the slower of the two threads.
 *
 *   npm run bench [-- --steps 20] [-- --json] [-- --no-epoch]
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, registerWasmKernels } from '../src/engine/backend';
import { mnistDataDir } from '../src/engine/data';
import { saveLayersModel } from '../src/engine/models/fileIO';
import { runExperiment } from '../src/engine/run';
import { makeOptimizer } from '../src/engine/training/train';
import { TeacherPipe } from '../src/engine/models/teacherPipe';
import { cnn as exampleCnn, mlp as exampleMlp } from '../examples/models';

const argv = process.argv.slice(2);
const flagValue = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const STEPS = flagValue('steps', 20);
const JSON_OUT = argv.includes('--json');
const WITH_EPOCH = !argv.includes('--no-epoch');
const BATCH = 64;
const T = 4;
const WARMUP = 3;
const CPU_STEPS = 3;
const log = (s: string) => process.stderr.write(s + '\n');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The pairs' models are the examples' (the same architectures the engine's epoch rows load by module). */
const cnn = (filters: [number, number]): tf.LayersModel => exampleCnn(tf, { filters, dense: 0 });
const mlp = (hidden: [number, number]): tf.LayersModel => exampleMlp(tf, { hidden });

function kdLoss(zs: tf.Tensor, zt: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const ce = tf.losses.softmaxCrossEntropy(labels, zs);
  const logPT = tf.logSoftmax(tf.div(zt, T));
  const kl = tf.mean(tf.sum(tf.mul(tf.exp(logPT), tf.sub(logPT, tf.logSoftmax(tf.div(zs, T)))), -1));
  return tf.add(ce, tf.mul(kl, T * T)) as tf.Scalar;
}

interface Pair { name: 'CNN' | 'MLP'; teacher: tf.LayersModel; student: () => tf.LayersModel; x: tf.Tensor }

/**
 * One KD step, repeatable. With a teacher pipe (ours), the teacher's forward pass runs in the
 * engine's teacher thread one batch ahead, as distillation with a per-batch teacher does: step i
 * submits batch i+1, then takes batch i's logits and runs the student.
 */
function trainer(pair: Pair, y: tf.Tensor, pipe?: TeacherPipe) {
  const student = pair.student();
  const opt = makeOptimizer({ kind: 'adam', learningRate: 1e-3 }); // the engine's (fused on wasm)
  const vars = student.trainableWeights.map((w) => w.read() as tf.Variable);
  const xHost = pair.x.dataSync() as Float32Array;
  let nextId: number | undefined;
  const teacherLogits = async (): Promise<tf.Tensor> => {
    if (!pipe) return tf.tidy(() => pair.teacher.predict(pair.x, { batchSize: BATCH }) as tf.Tensor);
    const id = nextId ?? pipe.submit(xHost.slice(), BATCH);
    nextId = pipe.submit(xHost.slice(), BATCH); // the next step's batch, computed while this step runs
    const out = await pipe.result(id);
    return tf.tensor(out.outputs[0], out.shapes[0]);
  };
  return {
    async step(): Promise<number> {
      const t0 = performance.now();
      const zt = await teacherLogits();
      const l = opt.minimize(() => kdLoss(student.apply(pair.x, { training: true }) as tf.Tensor, zt, y), true, vars) as tf.Scalar;
      l.dataSync();
      tf.dispose([l, zt]);
      return performance.now() - t0;
    },
    dispose() {
      if (nextId !== undefined) pipe?.discard(nextId);
      student.dispose();
      opt.dispose();
    },
  };
}

/** Median KD step (ms) per pair for ours and stock wasm (alternating, so load drifts hit both), then cpu. */
async function stepTimes(): Promise<Record<string, Record<string, number>>> {
  const y = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 7) as tf.Tensor1D, 10);
  const pairs: Pair[] = [
    { name: 'CNN', teacher: cnn([32, 64]), student: () => cnn([8, 16]), x: tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1) },
    { name: 'MLP', teacher: mlp([1200, 1200]), student: () => mlp([800, 800]), x: tf.randomUniform([BATCH, 784], 0, 1, 'float32', 2) },
  ];
  const out: Record<string, Record<string, number>> = { ours: {}, oursNoThread: {}, stock: {}, cpu: {} };
  for (const pair of pairs) {
    // ours: our kernels + the teacher thread; stock: stock kernels, teacher in the main thread.
    const pipe = await TeacherPipe.start(pair.teacher, { layers: [], inputShape: pair.x.shape.slice(1), backend: 'wasm', log });
    if (!pipe) throw new Error('the teacher thread did not start');
    await pipe.ready;
    const modes = [{ key: 'stock', speed: false, pipe: undefined }, { key: 'ours', speed: true, pipe }, { key: 'oursNoThread', speed: true, pipe: undefined }];
    const trainers = modes.map((m) => trainer(pair, y, m.pipe));
    // Modes alternate in blocks (so load drifts hit all), each block led by unmeasured steps: a
    // pipelined step must not be timed right after another mode's steps gave its thread a head start.
    const times: number[][] = modes.map(() => []);
    const BLOCK = 5;
    for (let done = 0; done < STEPS; done += BLOCK) {
      for (const [j, m] of modes.entries()) {
        registerWasmKernels({ speed: m.speed });
        for (let i = 0; i < WARMUP + BLOCK; i++) {
          const ms = await trainers[j].step();
          if (i >= WARMUP) times[j].push(ms);
        }
      }
    }
    modes.forEach((m, j) => {
      out[m.key][pair.name] = median(times[j]);
      trainers[j].dispose();
    });
    pipe.dispose();
    log(`  step ${pair.name}: ours ${out.ours[pair.name].toFixed(1)} ms (teacher thread), ${out.oursNoThread[pair.name].toFixed(1)} ms ` +
      `(one thread), stock wasm ${out.stock[pair.name].toFixed(1)} ms`);
  }
  registerWasmKernels({ speed: true });
  await tf.setBackend('cpu');
  for (const pair of pairs) {
    const t = trainer(pair, y);
    await t.step();
    const times: number[] = [];
    for (let i = 0; i < CPU_STEPS; i++) times.push(await t.step());
    t.dispose();
    out.cpu[pair.name] = median(times);
    log(`  step ${pair.name}: cpu ${out.cpu[pair.name].toFixed(1)} ms`);
  }
  await tf.setBackend('wasm');
  for (const p of pairs) {
    p.teacher.dispose();
    p.x.dispose();
  }
  y.dispose();
  return out;
}

/** The dominant products alone (ms, medians): GEMM 64×784·784×800 and the teacher's conv 32→64 on 64×14×14. */
async function kernelTimes(): Promise<Record<string, Record<string, number>>> {
  const a = tf.randomUniform([BATCH, 784], 0, 1, 'float32', 3);
  const w = tf.randomUniform([784, 800], 0, 1, 'float32', 4);
  const xc = tf.randomUniform([BATCH, 14, 14, 32], 0, 1, 'float32', 5) as tf.Tensor4D;
  const wc = tf.randomUniform([3, 3, 32, 64], 0, 1, 'float32', 6) as tf.Tensor4D;
  const fns: Record<string, () => tf.Tensor> = { GEMM: () => tf.matMul(a, w), CONV: () => tf.conv2d(xc, wc, 1, 'same') };
  const out: Record<string, Record<string, number>> = { ours: {}, stock: {}, cpu: {} };
  const time = (fn: () => tf.Tensor, n: number) => {
    const ts: number[] = [];
    for (let i = 0; i < WARMUP + n; i++) {
      const t0 = performance.now();
      const y = fn();
      y.dataSync();
      if (i >= WARMUP) ts.push(performance.now() - t0);
      y.dispose();
    }
    return median(ts);
  };
  for (const [name, fn] of Object.entries(fns)) {
    registerWasmKernels({ speed: false });
    out.stock[name] = time(fn, Math.max(STEPS, 20));
    registerWasmKernels({ speed: true });
    out.ours[name] = time(fn, Math.max(STEPS, 20));
  }
  await tf.setBackend('cpu');
  for (const [name, fn] of Object.entries(fns)) out.cpu[name] = time(fn, CPU_STEPS);
  await tf.setBackend('wasm');
  tf.dispose([a, w, xc, wc]);
  log(`  kernels: GEMM ours ${out.ours.GEMM.toFixed(2)} ms, conv ours ${out.ours.CONV.toFixed(2)} ms`);
  return out;
}

interface EpochFigures {
  seconds: number; cacheSeconds: number; trainSeconds: number; secondEpochSeconds: number; steps: number;
  /** A later run of the same experiment: the teacher's outputs read from disk, its first epoch. */
  laterRunEpochSeconds: number;
  peakRssMB: number; tensorsAfterEpochs: number[];
}

/**
 * Offline KD on the full MNIST through the engine itself, 2 epochs: the first epoch's wall time
 * from the moment the teacher's outputs start being cached (the evaluation splits; the training
 * split is filled during the epoch by the teacher thread) to its last step, and the second epoch's.
 * Then the same experiment again, as a later run would: the teacher's outputs come from the disk
 * (<runs>/.cache/teacher-outputs), and its first epoch is timed from the moment they are read.
 */
async function oursEpoch(pair: 'MLP' | 'CNN'): Promise<EpochFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-bench-'));
  const teacher = pair === 'MLP' ? mlp([1200, 1200]) : cnn([32, 64]);
  await saveLayersModel(teacher, path.join(dir, 'teacher'));
  teacher.dispose();
  fs.copyFileSync(path.join(__dirname, '..', 'examples', 'models.ts'), path.join(dir, 'models.ts'));
  const exp = {
    name: 'bench-epoch',
    data: { train: { format: 'mnist', split: 'train' }, test: { format: 'mnist', split: 'test', limit: 1000 } },
    teacher: { model: 'teacher/model.json' },
    student: pair === 'MLP'
      ? { module: 'models.ts', export: 'mlp', args: { hidden: [800, 800] } }
      : { module: 'models.ts', export: 'cnn', args: { filters: [8, 16], dense: 0 } },
    knowledge: [{ kind: 'response', method: 'kd', temperature: T, weight: 1 }],
    labels: { weight: 1 },
    training: { epochs: 2, batchSize: BATCH, optimizer: { kind: 'adam', learningRate: 0.001 }, logEvery: 100 },
    baseline: false,
    backend: 'wasm',
  };
  fs.writeFileSync(path.join(dir, 'e.distill.json'), JSON.stringify(exp));
  let cacheStart = 0;
  let firstStep = 0;
  const lastStep: number[] = [];
  const epochEnds: number[] = [];
  const tensors: number[] = [];
  let steps = 0;
  const r = await runExperiment({
    experiment: path.join(dir, 'e.distill.json'),
    emit: (m) => {
      if (m.type === 'log' && m.message.startsWith('caching the outputs')) cacheStart = performance.now();
      if (m.type === 'progress' && !firstStep) firstStep = performance.now();
      if (m.type === 'progress') steps = m.steps;
      if (m.type === 'progress' && m.step === m.steps) lastStep[m.epoch - 1] = performance.now();
      if (m.type === 'epoch') {
        epochEnds.push(performance.now());
        tensors.push(tf.memory().numTensors);
      }
    },
  });
  if (r.status !== 'completed') throw new Error(`bench epoch run ${r.status}: ${r.error}`);
  const cacheSeconds = (firstStep - cacheStart) / 1000;
  const trainSeconds = (lastStep[0] - firstStep) / 1000;

  // A later run: a new mtime on model.json leaves this process's in-memory copy behind, as a new
  // process would; the disk entry is keyed by content and still matches.
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(path.join(dir, 'teacher', 'model.json'), later, later);
  let start = 0;
  let end = 0;
  let fromDisk = false;
  const r2 = await runExperiment({
    experiment: path.join(dir, 'e.distill.json'),
    emit: (m) => {
      if (m.type === 'log' && m.message.startsWith('teacher outputs read from')) {
        fromDisk = true;
        start = performance.now();
      }
      if (m.type === 'progress' && m.epoch === 1 && m.step === m.steps) end = performance.now();
    },
    shouldStop: () => end > 0, // one epoch is what is measured
  });
  if (r2.status !== 'completed' && r2.status !== 'cancelled') throw new Error(`bench epoch run (later) ${r2.status}: ${r2.error}`);
  if (!fromDisk) throw new Error('bench epoch run (later): the teacher outputs were not read from disk');
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    seconds: cacheSeconds + trainSeconds, cacheSeconds, trainSeconds, secondEpochSeconds: (lastStep[1] - epochEnds[0]) / 1000, steps,
    laterRunEpochSeconds: (end - start) / 1000,
    peakRssMB: process.resourceUsage().maxRSS / 1024, tensorsAfterEpochs: tensors,
  };
}

interface Peer {
  available: boolean; why?: string; steps?: Record<string, number>; epochSeconds?: Record<string, number>; torch?: string; threads?: number;
  /** The kernel rows with the peer's threads, and with 1 thread. */
  kernels?: Record<string, number>; kernels1?: Record<string, number>;
}

function pytorch(): Peer {
  const candidates = ['/usr/bin/python3', 'python3'];
  const python = candidates.find((p) => cp.spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!python) {
    return { available: false, why: 'PyTorch not found: `apt-get install python3-torch libopenblas0-openmp` (without OpenBLAS, Debian\'s torch uses the reference BLAS and is 14–22× slower on matrix work)' };
  }
  const args = [path.join(__dirname, 'peer_torch.py'), '--steps', String(STEPS), '--threads', '2', '--mnist', mnistDataDir()];
  if (WITH_EPOCH) args.push('--epoch');
  const res = cp.spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (res.status !== 0) return { available: false, why: `peer_torch.py failed: ${res.stderr.slice(-500)}` };
  const j = JSON.parse(res.stdout) as Required<Pick<Peer, 'torch' | 'threads' | 'steps' | 'kernels' | 'kernels1'>> & { epochSeconds?: Record<string, number> };
  return { available: true, ...j };
}

(async () => {
  const info = await initBackend('wasm');
  log(`node ${process.version}, tfjs ${info.versions['tfjs-core']}, wasm simd=${info.simd}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  log('KD steps (ours vs stock wasm alternating, then cpu)…');
  const steps = await stepTimes();
  log('Kernels alone…');
  const kernels = await kernelTimes();
  log('PyTorch peer…');
  const peer = pytorch();
  const epoch: Partial<Record<'MLP' | 'CNN', EpochFigures>> = {};
  if (WITH_EPOCH) {
    for (const pair of ['MLP', 'CNN'] as const) {
      log(`KD epoch on the full MNIST through the engine (${pair})…`);
      epoch[pair] = await oursEpoch(pair);
    }
  }
  const result = { steps, kernels, peer, epoch, loadAverage: os.loadavg()[0] };
  if (JSON_OUT) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
  const rows: string[][] = [];
  for (const name of ['CNN', 'MLP']) {
    const o = steps.ours[name];
    const p = peer.steps?.[name];
    rows.push([`KD step ${name} (ms)`, f(o), f(steps.stock[name]), f(steps.cpu[name]), f(p), f(p ? o / p : undefined, 2), f(steps.stock[name] / o, 2), f(steps.cpu[name] / o, 1)]);
    const o1 = steps.oursNoThread[name];
    rows.push([`KD step ${name}, teacher in the main thread (ms)`, f(o1), '—', '—', f(p), f(p ? o1 / p : undefined, 2), f(steps.stock[name] / o1, 2), f(steps.cpu[name] / o1, 1)]);
  }
  const kernelLabel: Record<string, string> = { GEMM: 'GEMM 64×784·784×800 (ms)', CONV: 'conv 3×3 32→64, 64×14×14 (ms)' };
  for (const name of ['GEMM', 'CONV']) {
    const o = kernels.ours[name];
    const p = peer.kernels?.[name];
    rows.push([kernelLabel[name], f(o, 2), f(kernels.stock[name], 2), f(kernels.cpu[name], 1), f(p, 2), f(p ? o / p : undefined, 2), f(kernels.stock[name] / o, 2), f(kernels.cpu[name] / o, 1)]);
  }
  for (const pair of ['MLP', 'CNN'] as const) {
    const e = epoch[pair];
    const p = peer.epochSeconds?.[pair];
    if (!e) continue;
    rows.push([`KD epoch MNIST ${pair}, first run (s)`, f(e.seconds), '—', '—', f(p), f(p ? e.seconds / p : undefined, 2), '—', '—']);
    rows.push([`KD epoch MNIST ${pair}, teacher outputs from disk (s)`, f(e.laterRunEpochSeconds), '—', '—', f(p), f(p ? e.laterRunEpochSeconds / p : undefined, 2), '—', '—']);
  }
  console.log('| case | ours | stock wasm | cpu | PyTorch | ours ÷ PyTorch | stock ÷ ours | cpu ÷ ours |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (!peer.available) console.log(`\nPyTorch: ${peer.why}`);
  else {
    console.log(`\nPyTorch ${peer.torch}, ${peer.threads} threads. Steps: medians of ${STEPS} (modes alternate in blocks of 5, each after ${WARMUP} unmeasured steps; cpu: ${CPU_STEPS}).`);
    const k1 = peer.kernels1 ?? {};
    const gflops = (flop: number, ms: number | undefined) => (ms ? (flop / ms / 1e6).toFixed(0) : '—');
    const gemm = 2 * BATCH * 784 * 800;
    const conv = 2 * BATCH * 14 * 14 * 64 * 9 * 32;
    console.log(`Arithmetic rate, GFLOP/s — GEMM: ours ${gflops(gemm, kernels.ours.GEMM)} (1 core, WebAssembly SIMD128), PyTorch ` +
      `${gflops(gemm, peer.kernels?.GEMM)} (${peer.threads} threads), ${gflops(gemm, k1.GEMM)} (1 thread); conv: ours ${gflops(conv, kernels.ours.CONV)}, ` +
      `PyTorch ${gflops(conv, peer.kernels?.CONV)} (${peer.threads} threads), ${gflops(conv, k1.CONV)} (1 thread).`);
  }
  for (const pair of ['MLP', 'CNN'] as const) {
    const e = epoch[pair];
    if (!e) continue;
    console.log(`Ours epoch ${pair} = teacher outputs on the evaluation split ${e.cacheSeconds.toFixed(1)} s + ${e.steps} steps ` +
      `${e.trainSeconds.toFixed(1)} s (the training split's outputs cached meanwhile by the teacher thread); the second epoch, ` +
      `all from the cache: ${e.secondEpochSeconds.toFixed(1)} s; a later run, the teacher's outputs read from disk: its first epoch ` +
      `${e.laterRunEpochSeconds.toFixed(1)} s. tf.memory().numTensors after each epoch: ${e.tensorsAfterEpochs.join(', ')}; ` +
      `peak RSS of the process so far ${e.peakRssMB.toFixed(0)} MB.`);
  }
  console.log(`Load average during the run: ${os.loadavg()[0].toFixed(2)} (2 cores); figures from a loaded machine are noisy.`);
})().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
