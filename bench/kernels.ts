/**
 * Benchmark of one knowledge-distillation training step on the available tfjs backends.
 *
 *   node --import tsx bench/kernels.ts [--steps N]
 *
 * Step = teacher forward (no gradient) + student forward/backward + Adam update, batch 64, loss =
 * softmax cross-entropy on the student logits + T²·KL(teacher_T ‖ student_T) at T = 4.
 *   CNN: 28×28×1; teacher conv 32 → pool → conv 64 → pool → dense 10; student conv 8 / 16.
 *   MLP: teacher 784-1200-1200-10; student 784-800-800-10.
 * Modes: "ours" (wasm + the project's kernels), "stock-wasm" (wasm + only the kernels tfjs lacks,
 * plus the 'same'-padding fix, which costs nothing), "cpu" (pure JS, 3 steps: it is slow).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, registerWasmKernels } from '../src/engine/backend';

const BATCH = 64;
const T = 4;
const argSteps = process.argv.indexOf('--steps');
const STEPS = argSteps > 0 ? Number(process.argv[argSteps + 1]) : 20;
const WARMUP = 3;
const CPU_STEPS = 3;

interface Task {
  name: string;
  teacher: tf.LayersModel;
  makeStudent: () => tf.LayersModel;
  x: tf.Tensor;
  y: tf.Tensor;
}

function cnn(filters: [number, number], seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: filters[0], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: filters[1], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, kernelInitializer: init(3) }),
    ],
  });
}

function mlp(hidden: [number, number], seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: hidden[0], activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dense({ units: hidden[1], activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 10, kernelInitializer: init(3) }),
    ],
  });
}

function makeTasks(): Task[] {
  const labels = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 7) as tf.Tensor1D, 10);
  return [
    { name: 'CNN', teacher: cnn([32, 64], 100), makeStudent: () => cnn([8, 16], 200), x: tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 1), y: labels },
    { name: 'MLP', teacher: mlp([1200, 1200], 300), makeStudent: () => mlp([800, 800], 400), x: tf.randomUniform([BATCH, 784], 0, 1, 'float32', 2), y: labels.clone() },
  ];
}

function kdLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const ce = tf.losses.softmaxCrossEntropy(labels, studentLogits);
  const pT = tf.softmax(tf.div(teacherLogits, T));
  const logPT = tf.logSoftmax(tf.div(teacherLogits, T));
  const logPS = tf.logSoftmax(tf.div(studentLogits, T));
  const kl = tf.mean(tf.sum(tf.mul(pT, tf.sub(logPT, logPS)), -1));
  return tf.add(ce, tf.mul(kl, T * T)) as tf.Scalar;
}

/** A student with its optimizer; `step()` runs one KD step and returns [ms, loss]. */
function trainer(task: Task): { step: () => [number, number]; dispose: () => void } {
  const student = task.makeStudent();
  const optimizer = tf.train.adam(1e-3);
  const vars = student.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    step: () => {
      const t0 = performance.now();
      const teacherLogits = tf.tidy(() => task.teacher.predict(task.x) as tf.Tensor);
      const l = optimizer.minimize(() => kdLoss(student.apply(task.x, { training: true }) as tf.Tensor, teacherLogits, task.y), true, vars) as tf.Scalar;
      const loss = l.dataSync()[0];
      tf.dispose([l, teacherLogits]);
      return [performance.now() - t0, loss];
    },
    dispose: () => {
      student.dispose();
      optimizer.dispose();
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  console.log(`backend: ${info.name}  simd=${info.simd}  versions=${JSON.stringify(info.versions)}`);
  console.log(`node ${process.version}, ${STEPS} timed steps (+${WARMUP} warm-up) per wasm mode, ${CPU_STEPS} on cpu, batch ${BATCH}\n`);
  const tasks = makeTasks();
  // The two wasm modes alternate step by step (switching kernels is a registry swap), so drifting
  // load on the machine affects both alike.
  const wasmModes: Array<{ mode: string; speed: boolean }> = [
    { mode: 'stock-wasm', speed: false },
    { mode: 'ours', speed: true },
  ];
  const results: Record<string, Record<string, number>> = { 'stock-wasm': {}, ours: {}, cpu: {} };
  for (const task of tasks) {
    const trainers = wasmModes.map(() => trainer(task));
    const times: number[][] = wasmModes.map(() => []);
    const losses: number[] = wasmModes.map(() => NaN);
    for (let i = 0; i < WARMUP + STEPS; i++) {
      wasmModes.forEach((m, j) => {
        registerWasmKernels({ speed: m.speed });
        const [ms, loss] = trainers[j].step();
        if (i >= WARMUP) times[j].push(ms);
        losses[j] = loss;
      });
    }
    wasmModes.forEach((m, j) => {
      results[m.mode][task.name] = median(times[j]);
      console.log(`  ${m.mode.padEnd(10)} ${task.name}: median ${median(times[j]).toFixed(1)} ms (min ${Math.min(...times[j]).toFixed(1)}, max ${Math.max(...times[j]).toFixed(1)}), loss after ${WARMUP + STEPS} steps ${losses[j].toFixed(3)}`);
      trainers[j].dispose();
    });
  }
  registerWasmKernels({ speed: true });
  await tf.setBackend('cpu');
  for (const task of tasks) {
    const tr = trainer(task);
    tr.step(); // warm-up
    const times: number[] = [];
    let loss = NaN;
    for (let i = 0; i < CPU_STEPS; i++) {
      const [ms, l] = tr.step();
      times.push(ms);
      loss = l;
    }
    tr.dispose();
    results.cpu[task.name] = median(times);
    console.log(`  ${'cpu'.padEnd(10)} ${task.name}: median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}), loss ${loss.toFixed(3)}`);
  }
  await tf.setBackend('wasm');
  const modes = [...wasmModes.map((m) => m.mode), 'cpu'];

  const ours = results['ours'];
  console.log('\n| mode | CNN step, ms | × ours | MLP step, ms | × ours |');
  console.log('|---|---:|---:|---:|---:|');
  for (const mode of modes) {
    const r = results[mode];
    console.log(`| ${mode} | ${r.CNN.toFixed(1)} | ${(r.CNN / ours.CNN).toFixed(2)} | ${r.MLP.toFixed(1)} | ${(r.MLP / ours.MLP).toFixed(2)} |`);
  }
  for (const t of tasks) {
    t.teacher.dispose();
    tf.dispose([t.x, t.y]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
