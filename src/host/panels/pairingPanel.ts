/**
 * Layer pairing controller: the teacher's and student's layers and every pair of the experiment
 * (resolved in the engine: adapter or the reason it cannot be matched), with each pair's loss from
 * the latest run. A pair is added only after the engine checked it, as an undoable edit of the
 * experiment file that keeps its comments; removing a pair likewise. Follows the file as it is
 * edited.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { parse } from 'jsonc-parser';
import { readMetrics } from '../../runs/store';
import { settingsRunsDir } from '../experiments';
import type { PairingData, PairLink, WebviewToHost } from '../../protocol/webviews';
import { isRestrictedModeError } from '../trust';
import { addPairEdit, removePairEdit } from './pairEdit';
import type { PairEditResult } from './pairEdit';
import { attachPairLosses, pairLosses } from './panelData';
import type { PanelContext, PanelController } from './shell';

/**
 * The experiment's run folders, newest first (at most `max`): beside the panel's run, else under
 * the runs folder by the experiment's name (issue 20: the pairing panel reads the newest run).
 */
export function newestRuns(file: string, text: string | undefined, hint: string | undefined, max = 12): string[] {
  let root = hint ? path.dirname(hint) : undefined;
  if (!root) {
    try {
      const name = (parse(text ?? fs.readFileSync(file, 'utf8')) as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string') root = path.join(settingsRunsDir(file), name);
    } catch {
      return [];
    }
  }
  if (!root || !fs.existsSync(root)) return [];
  return fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'metrics.jsonl'))).sort().reverse().slice(0, max).map((d) => path.join(root, d));
}

export function pairingPanel(ctx: PanelContext): PanelController {
  let pairing: PairingData | undefined;
  const file = ctx.target.experimentFile;

  if (file) {
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.fsPath === file && e.contentChanges.length) void ctx.refresh();
    }, null, ctx.disposables);
  }

  /** `refused`: called with a refusal for workspace trust (shown after the init by the caller). */
  const pairingData = async (refused?: (e: unknown) => void): Promise<PairingData> => {
    const base: PairingData = { title: ctx.target.title, experimentFile: file ? vscode.workspace.asRelativePath(file) : '–', teacher: [], student: [], links: [], methods: [] };
    if (!file) return { ...base, error: 'no experiment file: open the pairing from an experiment' };
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
    try {
      const a = await ctx.probe({ kind: 'layers', experimentFile: file, ...(doc ? { text: doc.getText() } : {}) });
      let links: PairLink[] = a.links;
      // issue 20: each pair's loss from the newest run of the experiment that has that pair (not the run the panel opened on)
      const methods = await methodsOf(file, doc);
      for (const runDir of newestRuns(file, doc?.getText(), ctx.target.runDirs[0])) {
        if (links.every((l) => l.loss || l.error)) break;
        let losses: Map<string, number[]>;
        try {
          losses = pairLosses(readMetrics(runDir));
        } catch {
          continue; // a run folder being written or removed
        }
        const filled = attachPairLosses(links.filter((l) => !l.loss), methods, losses);
        links = links.map((l) => (l.loss ? l : filled.find((f) => f.entry === l.entry && f.pair === l.pair) ?? l));
      }
      return { ...base, teacher: a.teacher, student: a.student, links, methods: a.methods };
    } catch (e) {
      if (isRestrictedModeError(e)) {
        refused?.(e);
        return { ...base, error: 'layers not shown: the workspace is not trusted (Restricted Mode)' };
      }
      return { ...base, error: (e as Error).message };
    }
  };

  const document = (): Thenable<vscode.TextDocument> => vscode.workspace.openTextDocument(vscode.Uri.file(file!));

  const applyPairEdit = async (doc: vscode.TextDocument, result: PairEditResult, what: string): Promise<boolean> => {
    if (!result.ok) {
      ctx.post({ type: 'notice', level: 'error', message: result.reason });
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    for (const e of result.edits) {
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset + e.length)), e.content);
    }
    const ok = await vscode.workspace.applyEdit(edit, { isRefactoring: false });
    if (!ok) ctx.post({ type: 'notice', level: 'error', message: `the edit (${what}) could not be applied to ${path.basename(doc.uri.fsPath)}` });
    else ctx.post({ type: 'notice', level: 'info', message: `${what} (undo with Ctrl+Z in the experiment file)` });
    return ok;
  };

  /** Adds a pair: checked in the engine first (shapes, adapter); refused with the reason, or written as an undoable edit. */
  const addPair = async (teacher: string, student: string, method: string, weight?: number): Promise<boolean> => {
    if (!file) return false;
    const data = pairing ?? (pairing = await pairingData());
    const t = data.teacher.find((l) => l.name === teacher);
    const s = data.student.find((l) => l.name === student);
    if (!t || !s) {
      ctx.post({ type: 'pairRefused', teacher, student, method, reason: `no ${!t ? `teacher layer "${teacher}"` : `student layer "${student}"`} in the models` });
      return false;
    }
    const check = await ctx.probe({ kind: 'checkPair', method, teacher, student, teacherShape: t.outputShape, studentShape: s.outputShape });
    if (!check.ok) {
      ctx.post({ type: 'pairRefused', teacher, student, method, reason: check.reason });
      return false;
    }
    const doc = await document();
    const adapter = check.adapter === 'none' ? 'no adapter' : `adapter ${check.adapter}`;
    return applyPairEdit(doc, addPairEdit(doc.getText(), method, teacher, student, weight), `added ${method} pair ${teacher} ↔ ${student} (${adapter})`);
  };

  const removePair = async (entry: number, pair: number): Promise<boolean> => {
    if (!file) return false;
    const link = pairing?.links.find((l) => l.entry === entry && l.pair === pair);
    const doc = await document();
    return applyPairEdit(doc, removePairEdit(doc.getText(), entry, pair, link ? { teacher: link.teacher, student: link.student } : undefined),
      `removed ${link ? `${link.method} pair ${link.teacher} ↔ ${link.student}` : `pair ${entry}:${pair}`}`);
  };

  const suggest = async (): Promise<void> => {
    if (!file) return;
    ctx.post({ type: 'busy', busy: true, what: 'asking the engine for pair suggestions' });
    try {
      const a = await ctx.probe({ kind: 'suggest', experimentFile: file });
      ctx.post({ type: 'suggestions', suggestions: a.suggestions, ...(a.error ? { error: a.error } : {}) });
    } catch (e) {
      ctx.post({ type: 'suggestions', suggestions: [], error: ctx.probeFailed(e) });
    } finally {
      ctx.post({ type: 'busy', busy: false });
    }
  };

  return {
    async init() {
      let refused: unknown;
      pairing = await pairingData((e) => (refused = e));
      ctx.postNow({ type: 'init', panel: 'pairing', target: ctx.targetState(), data: pairing });
      if (refused) ctx.probeFailed(refused);
    },
    async act(msg: WebviewToHost) {
      switch (msg.type) {
        case 'addPair':
          await addPair(msg.teacher, msg.student, msg.method, msg.weight);
          return;
        case 'removePair':
          await removePair(msg.entry, msg.pair);
          return;
        case 'suggestPairs':
          return suggest();
      }
    },
    suggest,
  };
}

/** The knowledge entries' methods, by index (pair losses are attached to the links by entry). */
async function methodsOf(file: string, doc?: vscode.TextDocument): Promise<string[]> {
  const { parse } = await import('jsonc-parser');
  const v = parse(doc ? doc.getText() : fs.readFileSync(file, 'utf8')) as { knowledge?: { method?: string }[] };
  return (v?.knowledge ?? []).map((k) => String(k?.method));
}
