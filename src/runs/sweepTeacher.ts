/**
 * The teacher a sweep's points share (src/runs/sweeps.ts, src/engine/sweep.ts). The first point
 * that trained the teacher (a `teacher.train`, a completed `teacher` job) names its trained model in
 * sweep.json `teacher`, and every later point's experiment uses that model instead of training the
 * same teacher again — unless the sweep varies a `teacher.…` or `data.…` field (sweepVariesTeacher).
 *
 * - TF.js: the trained `models/teacher/model.json`; a later point's teacher is `{ "model": … }`.
 * - torch (`"engine": "torch"`): the trained state_dict `models/teacher/model.pt`
 *   (python/distill_torch/engine.py), loaded into the file's own teacher architecture; a later
 *   point's teacher is the file's `{ "module", "export", "args" }` or `{ "torchvision", "args" }`
 *   with `"weights"` the trained model.pt and `train` removed — the same function (architecture and
 *   weights) the first point's jobs were taught by. sweep.json holds that spec as `teacher.spec`.
 *   A TorchScript teacher (`{ "model": "*.pt", "train" }`) has no field to take a state_dict, so
 *   each point of such a sweep trains its own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'jsonc-parser';

/** sweep.json `teacher`. */
export interface SharedTeacher {
  /** The trained model file: TF.js `…/models/teacher/model.json`, torch `…/models/teacher/model.pt` (a state_dict). */
  model: string;
  /** The point that trained it. */
  from: string;
  /** torch: the teacher spec later points use (the file's architecture, `weights` = `model`). Absent for TF.js. */
  spec?: Record<string, unknown>;
}

/**
 * The teacher a completed point that trained it leaves to the later points, or undefined when
 * there is none to share (not shareable by teacherShareable's rule, or no trained file).
 */
export function trainedTeacher(experimentText: string, runDir: string, from: string): SharedTeacher | undefined {
  if (!teacherShareable(experimentText)) return undefined;
  const root = parse(experimentText) as { engine?: string; teacher: Record<string, unknown> };
  const dir = path.join(runDir, 'models', 'teacher');
  if (root.engine !== 'torch') {
    const model = path.join(dir, 'model.json');
    return fs.existsSync(model) ? { model, from } : undefined;
  }
  const model = path.join(dir, 'model.pt');
  if (!fs.existsSync(model)) return undefined;
  const spec: Record<string, unknown> = Object.fromEntries(Object.entries(root.teacher).filter(([k]) => k !== 'train' && k !== 'weights'));
  spec.weights = model;
  return { model, from, spec };
}

/** Whether the experiment's teacher, once trained by a point, can be shared (it has `train`, and is not a torch TorchScript file). */
export function teacherShareable(experimentText: string): boolean {
  const root = parse(experimentText) as { engine?: string; teacher?: Record<string, unknown> } | undefined;
  const t = root?.teacher;
  if (!t || typeof t !== 'object' || !t.train) return false;
  return root?.engine !== 'torch' || 'module' in t || 'torchvision' in t;
}

/** The `teacher` a later point's experiment gets from the shared one. */
export function sharedTeacherSpec(t: SharedTeacher): Record<string, unknown> {
  return t.spec ?? { model: t.model };
}
