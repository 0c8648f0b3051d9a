/**
 * The adversarial term (issue 18; numbers in src/engine/losses/adversarial.ts): a discriminator D,
 * an MLP over what it sees of each network — the softened logits, or one pair's features (the
 * student's through a fitnet-style adapter to the teacher's shape) — with the one-hot labels when
 * conditional. The student's term is −mean log σ(D(s)); D is trained after each student step on
 * that step's detached outputs, with its own Adam (β₁ 0.5), and is never exported.
 *
 * State: D's weights, its Adam moments and [t, Σ loss·B, Σ acc·B, Σ B] of the epoch so far (float32 sums) live in
 * non-trainable models among the term's adapters (so the student's optimizer leaves them alone,
 * and every checkpoint carries them: a resumed run continues with the same D, the same Adam
 * state and the same epoch means). D's loss and accuracy of the last step are the term's `params`
 * (`<term>.discLoss`, `<term>.discAcc`), their epoch means its `epochExtras`.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdversarialKnowledge } from '../../config/types';
import { formatShape } from '../../methods/catalogue';
import type { Shape } from '../models/taps';
import { adversarialStudentLoss, discriminatorInput, discriminatorLogits, discriminatorStep } from '../losses/adversarial';
import type { DiscriminatorState } from '../losses/adversarial';
import { PairError, planAdapter } from './pairs';
import type { KnowledgeProblem, Term, TermContext } from './terms';

type Base = Pick<Term, 'name' | 'weight' | 'needsTeacher'>;

/** D (or, with `trainable` false and zeros, a holder of one of its Adam moments): dense + LeakyReLU layers. */
export function buildDiscriminator(name: string, inputs: number, hidden: number[], moments = false): tf.Sequential {
  const m = tf.sequential({ name });
  const widths = [...hidden, 1];
  widths.forEach((units, i) => {
    m.add(tf.layers.dense({
      units, name: `${name}_dense${i}`, trainable: false,
      ...(i === 0 ? { inputShape: [inputs] } : {}),
      ...(moments ? { kernelInitializer: 'zeros', biasInitializer: 'zeros' } : {}),
    }));
    if (i < hidden.length) m.add(tf.layers.leakyReLU({ alpha: 0.2, name: `${name}_leaky${i}` }));
  });
  return m;
}

/** The variables of a model built by `buildDiscriminator`, in order [W₁, b₁, …]. */
function variablesOf(m: tf.LayersModel): tf.Variable[] {
  return m.layers.flatMap((l) => l.weights.map((w) => w.read() as tf.Variable));
}

function holder(name: string, cols: number): tf.LayersModel {
  const m = tf.sequential({ name });
  m.add(tf.layers.embedding({ inputDim: 1, outputDim: cols, inputLength: 1, trainable: false, embeddingsInitializer: 'zeros', name: `${name}_values` }));
  return m;
}

/** Flattened size of a shape past the batch, or undefined when a dimension is unknown. */
function flatSize(shape: Shape): number | undefined {
  const rest = shape.slice(1);
  return rest.some((d) => d === null || d === undefined) ? undefined : (rest as number[]).reduce((a, b) => a * b, 1);
}

/**
 * The adversarial term of knowledge entry `ei`, or undefined after pushing its problems. `shapes`:
 * of the pair's layers when it has one; `numClasses`: the logits' width (from the student's output).
 */
export function buildAdversarialTerm(entry: AdversarialKnowledge, ei: number, prefix: string, base: Base, factor: (epoch: number) => number,
  opts: { numClasses: number; pair?: { teacher: Shape; student: Shape } }, problems: KnowledgeProblem[]): Term | undefined {
  const here = ['knowledge', ei];
  const pair = entry.pairs?.[0];
  const k = opts.numClasses;
  let adapter: tf.LayersModel | undefined;
  let adapterDescription = '';
  let features = k;
  if (pair && opts.pair) {
    const size = flatSize(opts.pair.teacher);
    if (size === undefined || opts.pair.teacher.length < 2) {
      problems.push({ path: [...here, 'pairs', 0, 'teacher'], message: `adversarial: the teacher's layer "${pair.teacher}" ${formatShape(opts.pair.teacher)} must have a known shape [B,…]` });
      return undefined;
    }
    try {
      const plan = planAdapter('adversarial', pair, opts.pair.student, opts.pair.teacher);
      adapter = plan.build(`${prefix}_k${ei}_p0`);
      adapterDescription = plan.description;
    } catch (e) {
      if (!(e instanceof PairError)) throw e;
      problems.push({ path: [...here, 'pairs', 0], message: e.message });
      return undefined;
    }
    features = size;
  }
  const inputs = features + (entry.conditional ? k : 0);
  const name = `${prefix}_k${ei}_discriminator`;
  const disc = buildDiscriminator(name, inputs, entry.hidden);
  const mHolder = buildDiscriminator(`${name}_adam_m`, inputs, entry.hidden, true);
  const vHolder = buildDiscriminator(`${name}_adam_v`, inputs, entry.hidden, true);
  const state = holder(`${name}_state`, 4); // [t, Σ loss·B, Σ acc·B, Σ B] of the epoch so far
  const d: DiscriminatorState = { params: variablesOf(disc), m: variablesOf(mHolder), v: variablesOf(vHolder), step: 0 };
  let sums: { loss: number; acc: number; n: number } | undefined;
  /** The step counter and epoch sums: from the holder (a resumed run) on first use. */
  const ensure = () => {
    if (sums) return sums;
    const st = state.layers[0].getWeights()[0].dataSync();
    d.step = st[0];
    sums = { loss: st[1], acc: st[2], n: st[3] };
    return sums;
  };
  let captured: { s: tf.Tensor; t: tf.Tensor } | undefined;
  let last = { discLoss: Number.NaN, discAcc: Number.NaN };
  const release = () => {
    if (captured) tf.dispose([captured.s, captured.t]);
    captured = undefined;
  };
  /** What D sees of each network for this step. */
  const views = (ctx: TermContext): { s: tf.Tensor2D; t: tf.Tensor2D } => {
    const labels = entry.conditional ? ctx.labels : undefined;
    if (pair) {
      const fs = ctx.student.get(pair.student);
      const ft = ctx.teacher.get(pair.teacher);
      if (!fs || !ft) throw new Error(`layer "${!fs ? pair.student : pair.teacher}" was not tapped`);
      const s = adapter ? adapter.apply(fs) as tf.Tensor : fs;
      return { s: discriminatorInput(s, { labels, numClasses: k }), t: discriminatorInput(ft, { labels, numClasses: k }) };
    }
    if (!ctx.zt) throw new Error('adversarial: this loss term needs the teacher\'s logits');
    return {
      s: discriminatorInput(ctx.zs, { temperature: entry.temperature, labels, numClasses: k }),
      t: discriminatorInput(ctx.zt, { temperature: entry.temperature, labels, numClasses: k }),
    };
  };

  return {
    ...base, factor,
    studentLayers: pair ? [pair.student] : [],
    teacherLayers: pair ? [pair.teacher] : [],
    adapters: [...(adapter ? [adapter] : []), disc, mHolder, vHolder, state],
    pairLabels: pair ? [`${pair.teacher}→${pair.student}`] : [],
    pairAdapters: pair ? [`${adapterDescription}; discriminator ${[inputs, ...entry.hidden, 1].join('→')}`] : [],
    compute: (ctx) => {
      const { s, t } = views(ctx);
      release();
      // D trains on this step's outputs after the student's step (afterStep): detached copies.
      captured = { s: tf.keep(tf.clone(s)), t: tf.keep(tf.clone(t)) };
      const value = adversarialStudentLoss(discriminatorLogits(s, d.params));
      return { value, pairs: pair ? [value] : [] };
    },
    afterStep: () => {
      if (!captured) return;
      const c = captured;
      captured = undefined;
      try {
        const acc = ensure();
        const r = discriminatorStep(d, c.t, c.s, entry.learningRate);
        const n = c.s.shape[0];
        // float32 sums, so that the checkpoint (float32) holds them exactly and a resumed epoch's means are the same
        acc.loss = Math.fround(acc.loss + Math.fround(r.loss * n));
        acc.acc = Math.fround(acc.acc + Math.fround(r.acc * n));
        acc.n += n;
        last = { discLoss: r.loss, discAcc: r.acc };
      } finally {
        tf.dispose([c.s, c.t]);
      }
    },
    params: () => ({ ...last }),
    epochExtras: () => {
      const acc = ensure();
      const out: Record<string, number> = acc.n > 0 ? { discLoss: acc.loss / acc.n, discAcc: acc.acc / acc.n } : {};
      sums = { loss: 0, acc: 0, n: 0 };
      return out;
    },
    beforeCheckpoint: () => {
      const acc = ensure();
      tf.tidy(() => state.layers[0].setWeights([tf.tensor2d([d.step, acc.loss, acc.acc, acc.n], [1, 4])]));
    },
  };
}
