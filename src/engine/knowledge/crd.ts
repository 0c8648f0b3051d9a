/**
 * The crd term (Tian et al. 2020; loss in src/engine/losses/relation/crd.ts): two embedding heads
 * (a dense layer on each network's flattened layer output, trained with the student, never exported)
 * and two memory banks of the training split's embeddings, one per network.
 *
 * Memory: the banks hold 2 × N × D float32 (N training samples, D = `embedding`): 2·N·D·4 bytes,
 * 61 MB for MNIST's 60 000 samples at D = 128. They are kept on the host (each step gathers the
 * B·(K+1) rows it needs and updates the batch's own rows) and once more in three non-trainable
 * models among the term's adapters, written just before every checkpoint, so a checkpoint carries
 * the banks and the normalising constants and a resumed run continues with them. A bank above
 * `maxMemoryMB` is refused before training, naming the fix.
 */
import * as tf from '@tensorflow/tfjs';
import type { CrdKnowledge } from '../../config/types';
import { formatShape } from '../../methods/catalogue';
import type { Shape } from '../models/taps';
import { crdLoss, crdNormalisers, gatherMemory, initialMemory, l2Rows, memoryBytes, sampleContrast, updateMemory } from '../losses/relation/crd';
import type { KnowledgeProblem, Term } from './terms';

type Base = Pick<Term, 'name' | 'weight' | 'needsTeacher'>;

/** A non-trainable [rows, cols] weight in a model of its own (checkpointed with the adapters). */
function holder(name: string, rows: number, cols: number): tf.LayersModel {
  const m = tf.sequential({ name });
  m.add(tf.layers.embedding({ inputDim: rows, outputDim: cols, inputLength: 1, trainable: false, embeddingsInitializer: 'zeros', name: `${name}_values` }));
  return m;
}

function head(name: string, input: Shape, d: number): tf.LayersModel {
  const m = tf.sequential({ name });
  const inputShape = input.slice(1) as number[];
  if (inputShape.length > 1) m.add(tf.layers.flatten({ inputShape, name: `${name}_flatten` }));
  m.add(tf.layers.dense({ units: d, name: `${name}_dense`, ...(inputShape.length > 1 ? {} : { inputShape }) }));
  return m;
}

function stringSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The crd term of knowledge entry `ei` for its (single) pair, or undefined after pushing its
 * problems. `trainLabels`: the training split's labels (N and the negatives' classes); without
 * them (a check that has no data) the banks are a placeholder of one row and the term cannot train.
 */
export function buildCrdTerm(entry: CrdKnowledge, ei: number, prefix: string, base: Base, factor: (epoch: number) => number,
  shapes: { teacher: Shape; student: Shape }, trainLabels: Int32Array | undefined, problems: KnowledgeProblem[]): Term | undefined {
  const pair = entry.pairs[0];
  const d = entry.embedding;
  const k = entry.negatives;
  const here = ['knowledge', ei];
  for (const [who, shape] of [['student', shapes.student], ['teacher', shapes.teacher]] as const) {
    if (shape.length < 2 || shape.slice(1).some((x) => x === null)) {
      problems.push({ path: [...here, 'pairs', 0, who], message: `crd: the ${who}'s layer "${pair[who]}" ${formatShape(shape)} must have a known shape [B,…]` });
      return undefined;
    }
  }
  const n = trainLabels?.length ?? 1;
  if (trainLabels) {
    const mb = memoryBytes(n, d) / 2 ** 20;
    if (mb > entry.maxMemoryMB) {
      problems.push({ path: [...here, 'embedding'], message: `crd: the memory banks hold 2 × ${n} samples × ${d} = ${mb.toFixed(0)} MB, above maxMemoryMB ${entry.maxMemoryMB}: lower "embedding", limit the training split (data.train.limit), or raise "maxMemoryMB"` });
      return undefined;
    }
    if (k >= n) {
      problems.push({ path: [...here, 'negatives'], message: `crd: ${k} negatives per sample, but the training split has ${n} samples: give "negatives" below ${n}` });
      return undefined;
    }
    if (new Set(trainLabels).size < 2) {
      problems.push({ path: [...here, 'method'], message: 'crd: the training split has one class only, so there is no negative to contrast with' });
      return undefined;
    }
  }
  const headS = head(`${prefix}_k${ei}_p0_crd_student`, shapes.student, d);
  const headT = head(`${prefix}_k${ei}_p0_crd_teacher`, shapes.teacher, d);
  const memS = holder(`${prefix}_k${ei}_crd_memory_student`, n, d);
  const memT = holder(`${prefix}_k${ei}_crd_memory_teacher`, n, d);
  const state = holder(`${prefix}_k${ei}_crd_state`, 1, 3); // [Z_s, Z_t, initialised]
  const seed = stringSeed(`${prefix}/${ei}`);

  let host: { s: Float32Array; t: Float32Array; zs: number; zt: number } | undefined;
  const values = (m: tf.LayersModel) => m.layers[0].getWeights()[0].dataSync() as Float32Array;
  /** The banks on the host: restored from the holders (a resumed run) or the paper's random start. */
  const ensure = () => {
    if (host) return host;
    const st = values(state);
    host = st[2] === 1
      ? { s: values(memS).slice(), t: values(memT).slice(), zs: st[0], zt: st[1] }
      : { s: initialMemory(n, d, seed), t: initialMemory(n, d, seed ^ 0x5bd1e995), zs: 0, zt: 0 };
    return host;
  };

  return {
    ...base, factor, studentLayers: [pair.student], teacherLayers: [pair.teacher],
    adapters: [headS, headT, memS, memT, state],
    pairLabels: [`${pair.teacher}→${pair.student}`],
    pairAdapters: [`crd heads ${shapes.student.slice(1).join('×')}→${d}, ${shapes.teacher.slice(1).join('×')}→${d}; memory 2×${n}×${d}`],
    compute: (ctx) => {
      if (!trainLabels) throw new Error('crd: the term was built without the training split\'s labels (no memory bank)');
      if (!ctx.idx) throw new Error('crd: needs the batch\'s row indices in the training split');
      const h = ensure();
      const fs = ctx.student.get(pair.student);
      const ft = ctx.teacher.get(pair.teacher);
      if (!fs || !ft) throw new Error(`layer "${!fs ? pair.student : pair.teacher}" was not tapped`);
      const b = ctx.idx.length;
      const rows = sampleContrast(ctx.idx, trainLabels, k);
      const rowsS = tf.tensor3d(gatherMemory(h.s, d, rows), [b, k + 1, d]);
      const rowsT = tf.tensor3d(gatherMemory(h.t, d, rows), [b, k + 1, d]);
      const es = headS.apply(fs) as tf.Tensor2D;
      const et = headT.apply(ft) as tf.Tensor2D;
      if (h.zs === 0) Object.assign(h, crdNormalisers(es, et, rowsS, rowsT, entry.temperature, n));
      const loss = crdLoss(es, et, rowsS, rowsT, { temperature: entry.temperature, n, zs: h.zs, zt: h.zt });
      // The banks move after the scores are taken: this batch's rows, from its new embeddings.
      const [vs, vt] = tf.tidy(() => [l2Rows(es).dataSync() as Float32Array, l2Rows(et).dataSync() as Float32Array]);
      updateMemory(h.s, d, ctx.idx, vs, entry.momentum);
      updateMemory(h.t, d, ctx.idx, vt, entry.momentum);
      return { value: loss, pairs: [loss] };
    },
    beforeCheckpoint: () => {
      if (!host) return;
      const h = host;
      tf.tidy(() => {
        memS.layers[0].setWeights([tf.tensor2d(h.s, [n, d])]);
        memT.layers[0].setWeights([tf.tensor2d(h.t, [n, d])]);
        state.layers[0].setWeights([tf.tensor2d([h.zs, h.zt, 1], [1, 3])]);
      });
    },
  };
}
