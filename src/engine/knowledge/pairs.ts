/**
 * Layer pairs and adapters. A pair links a teacher layer to a student layer; when the method needs
 * shapes the student's layer does not have, an adapter maps the student's tensor to the teacher's
 * shape. Adapters are trained with the student and are not part of the exported student.
 *
 * Rules (stated here and in the README):
 * - vectors [B, D]: a `dense` adapter D_s → D_t (linear, with bias);
 * - feature maps [B, H, W, C]: first the spatial size — when the student's H×W is k times the
 *   teacher's (integer k, both axes) it is average-pooled by k; when it is 1/k of the teacher's it is
 *   upsampled by k (nearest); any other ratio cannot be matched — then a `conv1x1` adapter maps
 *   C_s → C_t channels when the method needs equal shapes (fitnet) or `conv1x1` is asked for;
 * - relation methods compare B×B (or B×B×B) matrices, so D may differ and no adapter is used.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerPair } from '../../config/types';
import { formatShape, getMethodInfo, pairShapeError } from '../../methods/catalogue';
import type { Shape } from '../models/taps';

export interface AdapterPlan {
  /** e.g. `avgpool 2×2 → conv1x1 16→32`, or `none`. */
  description: string;
  /** The shape after the adapter (batch null). */
  outputShape: Shape;
  build(name: string): tf.LayersModel | undefined;
}

export class PairError extends Error {}

/**
 * Plans the adapter for one pair, or throws a PairError naming both layers, both shapes and what
 * would fix it.
 */
export function planAdapter(method: string, pair: Pick<LayerPair, 'teacher' | 'student' | 'adapter'>,
  studentShape: Shape, teacherShape: Shape): AdapterPlan {
  const info = getMethodInfo(method);
  if (!info) throw new PairError(`unknown method "${method}"`);
  const what = `teacher "${pair.teacher}" ${formatShape(teacherShape)} ↔ student "${pair.student}" ${formatShape(studentShape)}`;
  const identity: AdapterPlan = { description: 'none', outputShape: studentShape, build: () => undefined };
  const rs = studentShape.length;
  const rt = teacherShape.length;
  if (info.ranks !== 'any' && (!info.ranks.includes(rs) || !info.ranks.includes(rt))) {
    const fix = rs === 2 || rt === 2
      ? 'for vectors use "fitnet" with a "dense" adapter, or a relation method (rkd-distance, sp, pkt, cc)'
      : `pair layers of rank ${info.ranks.join(' or ')}`;
    throw new PairError(`${method}: ${what}: ${method} needs tensors of rank ${info.ranks.join(' or ')} ([B,H,W,C] feature maps); ${fix}`);
  }
  if (info.kind === 'relation') {
    if (pair.adapter !== 'auto' && pair.adapter !== 'none') {
      throw new PairError(`${method}: ${what}: relation methods compare sample-to-sample relations, so no adapter is needed; remove "adapter"`);
    }
    return identity;
  }
  if (pair.adapter === 'none') {
    const err = pairShapeError(method, studentShape, teacherShape);
    if (err) {
      throw new PairError(`${method}: ${what}: ${err.replace(/^[^:]+: /, '')}; use "adapter": "auto" (or "${rs === 4 ? 'conv1x1' : 'dense'}")`);
    }
    return identity;
  }
  if (rs !== rt) {
    throw new PairError(`${method}: ${what}: ranks differ (${rs} vs ${rt}); pair layers of the same kind (vectors with vectors, feature maps with feature maps)`);
  }
  const steps: string[] = [];
  const layers: ((name: string, i: number) => tf.layers.Layer)[] = [];
  let shape = [...studentShape];
  if (rs === 4) {
    if (pair.adapter === 'dense') throw new PairError(`${method}: ${what}: a "dense" adapter is for vectors; use "conv1x1" for feature maps`);
    const [hs, ws] = [shape[1] as number, shape[2] as number];
    const [ht, wt] = [teacherShape[1] as number, teacherShape[2] as number];
    if (hs !== ht || ws !== wt) {
      if (hs % ht === 0 && ws % wt === 0 && hs / ht === ws / wt) {
        const k = hs / ht;
        steps.push(`avgpool ${k}×${k}`);
        layers.push((name, i) => tf.layers.averagePooling2d({ poolSize: k, strides: k, name: `${name}_pool${i}` }));
      } else if (ht % hs === 0 && wt % ws === 0 && ht / hs === wt / ws) {
        const k = ht / hs;
        steps.push(`upsample ${k}×${k}`);
        layers.push((name, i) => tf.layers.upSampling2d({ size: [k, k], name: `${name}_up${i}` }));
      } else {
        throw new PairError(`${method}: ${what}: spatial sizes ${hs}×${ws} and ${ht}×${wt} are not integer multiples; ` +
          'pair layers whose resolutions differ by a whole factor (pool or upsample), or the same resolution');
      }
      shape = [shape[0], ht, wt, shape[3]];
    }
    const cs = shape[3] as number;
    const ct = teacherShape[3] as number;
    if (pair.adapter === 'conv1x1' || (info.sameShape && cs !== ct)) {
      steps.push(`conv1x1 ${cs}→${ct}`);
      layers.push((name, i) => tf.layers.conv2d({ filters: ct, kernelSize: 1, name: `${name}_conv${i}` }));
      shape = [shape[0], ht, wt, ct];
    }
  } else if (rs === 2) {
    if (pair.adapter === 'conv1x1') throw new PairError(`${method}: ${what}: a "conv1x1" adapter is for feature maps; use "dense" for vectors`);
    const ds = shape[1] as number;
    const dt = teacherShape[1] as number;
    if (pair.adapter === 'dense' || (info.sameShape && ds !== dt)) {
      steps.push(`dense ${ds}→${dt}`);
      layers.push((name, i) => tf.layers.dense({ units: dt, name: `${name}_dense${i}` }));
      shape = [shape[0], dt];
    }
  } else if (info.sameShape && formatShape(shape) !== formatShape(teacherShape)) {
    throw new PairError(`${method}: ${what}: no adapter for rank-${rs} tensors; pair vectors or feature maps`);
  }
  const err = pairShapeError(method, shape, teacherShape);
  if (err) throw new PairError(`${method}: ${what}: ${err.replace(/^[^:]+: /, '')}`);
  if (layers.length === 0) return identity;
  const inputShape = studentShape.slice(1) as number[];
  return {
    description: steps.join(' → '),
    outputShape: shape,
    build: (name) => {
      const model = tf.sequential({ name });
      layers.forEach((make, i) => {
        const layer = make(name, i);
        if (i === 0) model.add(tf.layers.inputLayer({ inputShape, name: `${name}_in` }));
        model.add(layer);
      });
      return model;
    },
  };
}
