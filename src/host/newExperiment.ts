/**
 * "Distill: New Experiment": writes a `*.distill.json` from a template next to a model file (the
 * active one, or one picked from the workspace), naming its teacher/student exports or the
 * model.json, and opens it beside.
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

/** The experiment text for a model file (`rel`: its path relative to the experiment). */
export function experimentTemplate(name: string, rel: string, text: string): string {
  let models: TemplateModels;
  if (path.basename(rel) === 'model.json') {
    models = {
      teacher: `{ "model": ${JSON.stringify(rel)} }`,
      student: '{ "module": "models.ts", "export": "student" }   // a factory (tf, args) => tf.LayersModel',
    };
  } else {
    const names = exportedNames(text);
    const teacher = names.find((n) => /teacher/i.test(n)) ?? names[0] ?? 'teacher';
    const student = names.find((n) => /student/i.test(n)) ?? names.find((n) => n !== teacher) ?? teacher;
    const same = teacher === student;
    models = {
      teacher: `{\n    "module": ${JSON.stringify(rel)}, "export": ${JSON.stringify(teacher)},${same ? ' "args": {},' : ''}\n` +
        '    // remove "train" when the teacher is already trained\n' +
        '    "train": { "epochs": 3, "batchSize": 64, "optimizer": { "kind": "adam", "learningRate": 0.001 } }\n  }',
      student: `{ "module": ${JSON.stringify(rel)}, "export": ${JSON.stringify(student)}${same ? ', "args": {}' : ''} }${same ? '   // give the student smaller args' : ''}`,
    };
  }
  return `// Knowledge distillation: the student learns from the teacher's softened outputs (Hinton KD)
// and the labels. Run it with "Distill: Run Experiment" or the Run lens above.
{
  "name": ${JSON.stringify(name)},
  "seeds": [1],
  "data": {
    // also: idx, csv, synthetic
    "train": { "format": "mnist", "split": "train" },
    "test": { "format": "mnist", "split": "test" },
    "validation": { "fraction": 0.1 }
  },
  "teacher": ${models.teacher},
  "student": ${models.student},
  "knowledge": [
    { "kind": "response", "method": "kd", "temperature": 4, "weight": 0.9 }
  ],
  "labels": { "weight": 0.1 },
  "training": { "epochs": 5, "batchSize": 64, "optimizer": { "kind": "adam", "learningRate": 0.001 } },
  "baseline": true
}
`;
}

export async function newExperiment(arg: unknown): Promise<vscode.Uri | undefined> {
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
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(experimentTemplate(name, rel, text)));
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
