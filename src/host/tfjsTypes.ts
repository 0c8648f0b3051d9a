/**
 * No false "Cannot find module '@tensorflow/tfjs'" in the user's model file (issue 20): the engine
 * brings its own TensorFlow.js, so a workspace with only `net.ts` has nothing for the editor to
 * resolve the import with. Quick fixes on that error: point the editor at the extension's copy
 * (`paths` in a tsconfig.json / jsconfig.json beside the model file, written or edited in place,
 * comments kept), or install the package for the editor (`npm install --save-dev`, in a terminal).
 */
import * as fs from 'fs';
import * as path from 'path';
import { applyEdits, modify, parse } from 'jsonc-parser';
import * as vscode from 'vscode';

export const TFJS = '@tensorflow/tfjs';
const TFJS_VERSION = '4.22.0';

/** Whether a diagnostic is TypeScript's "Cannot find module '@tensorflow/tfjs'" (2307, or 7016 for missing types). */
export function isMissingTfjs(d: vscode.Diagnostic): boolean {
  const code = typeof d.code === 'object' ? d.code.value : d.code;
  return (code === 2307 || code === 7016 || code === '2307' || code === '7016') && d.message.includes(`'${TFJS}'`);
}

/** The tsconfig.json (or jsconfig.json for JavaScript) beside `file`, with `paths` mapping the import to `tfjsDir`. */
export function configWithPaths(existing: string | undefined, tfjsDir: string): string {
  const text = existing ?? '{\n  "compilerOptions": {\n    "module": "commonjs",\n    "target": "es2020",\n    "strict": true\n  }\n}\n';
  const fmt = { formattingOptions: { insertSpaces: true, tabSize: 2 } };
  return applyEdits(text, modify(text, ['compilerOptions', 'paths', TFJS], [tfjsDir], fmt));
}

export class TfjsTypesQuickFix implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  /** `tfjsDir`: the extension's copy of the package, when it ships its type declarations. */
  constructor(private readonly tfjsDir: string | undefined) {}

  static forExtension(extensionPath: string): TfjsTypesQuickFix {
    const dir = path.join(extensionPath, 'node_modules', '@tensorflow', 'tfjs');
    let types: string | undefined;
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { types?: string; typings?: string };
      types = pkg.types ?? pkg.typings;
    } catch {
      types = undefined;
    }
    return new TfjsTypesQuickFix(types && fs.existsSync(path.join(dir, types)) ? dir : undefined);
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const diags = context.diagnostics.filter(isMissingTfjs);
    if (diags.length === 0 || doc.uri.scheme !== 'file') return [];
    const out: vscode.CodeAction[] = [];
    const dir = path.dirname(doc.uri.fsPath);
    if (this.tfjsDir) {
      const name = /\.m?js$/.test(doc.uri.fsPath) ? 'jsconfig.json' : 'tsconfig.json';
      const file = path.join(dir, name);
      const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
      const mapped = existing !== undefined && (parse(existing) as { compilerOptions?: { paths?: Record<string, unknown> } } | undefined)?.compilerOptions?.paths?.[TFJS];
      if (!mapped) {
        const a = new vscode.CodeAction(`Use Distill Studio's TensorFlow.js types (${existing ? 'add "paths" to' : 'create'} ${name})`, vscode.CodeActionKind.QuickFix);
        a.diagnostics = diags;
        a.isPreferred = true;
        a.edit = new vscode.WorkspaceEdit();
        const uri = vscode.Uri.file(file);
        const content = configWithPaths(existing, this.tfjsDir);
        if (existing === undefined) a.edit.createFile(uri, { overwrite: false, contents: new TextEncoder().encode(content) });
        else a.edit.replace(uri, new vscode.Range(0, 0, Number.MAX_SAFE_INTEGER, 0), content);
        out.push(a);
      }
    }
    const install = new vscode.CodeAction(`Install ${TFJS}@${TFJS_VERSION} for the editor (npm install --save-dev, in a terminal)`, vscode.CodeActionKind.QuickFix);
    install.diagnostics = diags;
    install.command = { command: 'distill.installTfjsTypes', title: 'Install TensorFlow.js', arguments: [dir] };
    out.push(install);
    return out;
  }
}

/** Opens a terminal in `dir` and runs the install (the user sees it and can stop it). */
export function installTfjsTypes(dir: unknown): vscode.Terminal | undefined {
  if (typeof dir !== 'string') return undefined;
  const t = vscode.window.createTerminal({ name: 'Distill: install TensorFlow.js', cwd: dir });
  t.show();
  t.sendText(`npm install --save-dev ${TFJS}@${TFJS_VERSION}`);
  return t;
}
