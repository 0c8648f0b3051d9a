/**
 * "Distill: New Experiment": writes a `*.distill.json` from a template next to a model file (the
 * active one, or one picked from the workspace), naming its teacher/student exports or the
 * model.json, and opens it beside.
 *
 * Issue 20: the teacher and student exports are picked in a quick pick (the guess preselected), the
 * template is sized for a first run (a `limit` on the data, few epochs) and, in a trusted
 * workspace, says how long it will take on this machine, measured by the engine before anything runs.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { exportedNames } from './codeLens';

const MODEL_GLOB = '**/{*.ts,*.mts,*.js,*.mjs,model.json}';
const EXCLUDE = '{**/node_modules/**,**/.distill/**,**/.git/**,**/dist/**,**/out/**,**/*.d.ts}';

function isModelFile(file: string): boolean {
  return /\.(m?ts|m?js)$/.test(file) && !file.endsWith('.d.ts') || path.basename(file) === 'model.json';
}

async function chooseModelFile(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri && isModelFile(arg.fsPath)) return arg;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && isModelFile(active.fsPath)) return active;
  const files = await vscode.workspace.findFiles(MODEL_GLOB, EXCLUDE, 500);
  if (files.length === 0) {
    void vscode.window.showInformationMessage('Distill: no model file found (a .ts/.js module exporting (tf, args) => tf.LayersModel, or a TF.js model.json). Add one, then run "Distill: New Experiment" from it.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(files.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(uri), uri })),
    { placeHolder: 'The teacher/student model file the experiment starts from' });
  return pick?.uri;
}

export interface TemplateModels { teacher: string; student: string }

/** The exports the template names (the caller may have asked the user). */
export interface ExportChoice { teacher: string; student: string }

/** The guess: an export named like `teacher` / `student`, else the first two. */
export function guessExports(names: string[]): ExportChoice {
  const teacher = names.find((n) => /teacher/i.test(n)) ?? names[0] ?? 'teacher';
  const student = names.find((n) => /student/i.test(n)) ?? names.find((n) => n !== teacher) ?? teacher;
  return { teacher, student };
}

/** Asks for the teacher and the student export, the guess first and preselected; undefined when cancelled. */
async function pickExports(names: string[]): Promise<ExportChoice | undefined> {
  const guess = guessExports(names);
  if (names.length < 2) return guess;
  const ask = async (role: 'teacher' | 'student', preselected: string) => {
    const items = [preselected, ...names.filter((n) => n !== preselected)].map((n, i) => ({ label: n, description: i === 0 ? 'guessed' : undefined, picked: i === 0 }));
    const pick = await vscode.window.showQuickPick(items, { title: `New Experiment: the ${role}`, placeHolder: `The export that builds the ${role} model` });
    return pick?.label;
  };
  const teacher = await ask('teacher', guess.teacher);
  if (!teacher) return undefined;
  const student = await ask('student', teacher === guess.student ? guess.teacher : guess.student);
  return student ? { teacher, student } : undefined;
}

/** The experiment text for a model file (`rel`: its path relative to the experiment). */
export function experimentTemplate(name: string, rel: string, text: string, chosen?: ExportChoice, estimate?: string): string {
  let models: TemplateModels;
  if (path.basename(rel) === 'model.json') {
    models = {
      teacher: `{ "model": ${JSON.stringify(rel)} }`,
      student: '{ "module": "models.ts", "export": "student" }   // a factory (tf, args) => tf.LayersModel',
    };
  } else {
    const { teacher, student } = chosen ?? guessExports(exportedNames(text));
    const same = teacher === student;
    models = {
      teacher: `{\n    "module": ${JSON.stringify(rel)}, "export": ${JSON.stringify(teacher)},${same ? ' "args": {},' : ''}\n` +
        '    // remove "train" when the teacher is already trained\n' +
        '    "train": { "epochs": 2, "batchSize": 64, "optimizer": { "kind": "adam", "learningRate": 0.001 } }\n  }',
      student: `{ "module": ${JSON.stringify(rel)}, "export": ${JSON.stringify(student)}${same ? ', "args": {}' : ''} }${same ? '   // give the student smaller args' : ''}`,
    };
  }
  return `// Knowledge distillation: the student learns from the teacher's softened outputs (Hinton KD)
// and the labels. Run it with "Distill: Run Experiment" or the Run lens above.
// Sized for a first run: ${FIRST_RUN.train} training and ${FIRST_RUN.test} test images, few epochs. Remove the
// "limit"s and raise the epochs (and the seeds) once it works: one seed on ${FIRST_RUN.test} images says little.
${estimate ? `// ${estimate}\n` : ''}{
  "name": ${JSON.stringify(name)},
  "seeds": [1],
  "data": {
    // also: idx, csv, synthetic
    "train": { "format": "mnist", "split": "train", "limit": ${FIRST_RUN.train} },
    "test": { "format": "mnist", "split": "test", "limit": ${FIRST_RUN.test} },
    "validation": { "fraction": 0.1 }
  },
  "teacher": ${models.teacher},
  "student": ${models.student.replace(/^(.*?\})(\s*\/\/.*)?$/s, (_m, spec: string, comment?: string) => `${spec},${comment ?? ''}`)}
  "knowledge": [
    { "kind": "response", "method": "kd", "temperature": 4, "weight": 0.9 }
  ],
  "labels": { "weight": 0.1 },
  "training": { "epochs": 3, "batchSize": 64, "optimizer": { "kind": "adam", "learningRate": 0.001 } },
  "baseline": true   // also train the student from scratch: the verdict compares against it
}
`;
}

/** The data a first run uses (issue 20: the full MNIST with 3 + 5 epochs was the default). */
export const FIRST_RUN = { train: 5000, test: 1000 };

/** `≈ 40 s on this machine (…)` from the engine's measured estimate; undefined when it cannot be had (untrusted, no data). */
export type Estimator = (file: string, text: string) => Promise<{ seconds?: number; description?: string } | undefined>;

export function estimateLine(e: { seconds?: number; description?: string } | undefined): string | undefined {
  if (!e || e.seconds === undefined) return undefined;
  const s = Math.max(1, Math.round(e.seconds));
  const human = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  return `≈ ${human} of training on this machine (measured before writing this file; evaluation not included)`;
}

export async function newExperiment(arg: unknown, estimator?: Estimator, exportsArg?: unknown): Promise<vscode.Uri | undefined> {
  const model = await chooseModelFile(arg);
  if (!model) return undefined;
  const dir = path.dirname(model.fsPath);
  const base = path.basename(model.fsPath).replace(/\.(m?ts|m?js|json)$/, '').replace(/^model$/, path.basename(dir));
  let name = `${base}-kd`;
  let target = vscode.Uri.file(path.join(dir, `${name}.distill.json`));
  for (let i = 2; await exists(target); i++) {
    name = `${base}-kd-${i}`;
    target = vscode.Uri.file(path.join(dir, `${name}.distill.json`));
  }
  const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(model));
  const rel = path.relative(dir, model.fsPath).split(path.sep).join('/');
  let chosen: ExportChoice | undefined;
  if (path.basename(rel) !== 'model.json') {
    const given = exportsArg as Partial<ExportChoice> | undefined;
    chosen = typeof given?.teacher === 'string' && typeof given.student === 'string' ? { teacher: given.teacher, student: given.student }
      : await pickExports(exportedNames(text));
    if (!chosen) return undefined;
  }
  let body = experimentTemplate(name, rel, text, chosen);
  // measured before Run (trusted workspaces: it loads the model code); a failure leaves the template without it
  const line = estimator ? estimateLine(await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Distill: timing a few training steps…' },
    () => estimator(target.fsPath, body).catch(() => undefined))) : undefined;
  if (line) body = experimentTemplate(name, rel, text, chosen, line);
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(body));
  if (line) void vscode.window.setStatusBarMessage(`Distill: ${name} — ${line.split(' (')[0]}`, 15_000);
  await vscode.window.showTextDocument(target, { viewColumn: vscode.ViewColumn.Beside, preview: false });
  return target;
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
