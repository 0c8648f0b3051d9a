/**
 * Reading an experiment file (`*.distill.json`, JSON with comments): syntax, schema and semantic
 * checks with located errors, then the file-system checks (referenced files exist).
 * Pure Node (no `vscode`, no TensorFlow): used by the engine, the CLI and the extension host.
 *
 *   const { config, errors } = loadExperiment('exp.distill.json');
 *   if (!config) throw new ExperimentError(errors);
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createScanner, findNodeAtOffset, getNodePath, parseTree, printParseErrorCode } from 'jsonc-parser';
import type { Node, ParseError } from 'jsonc-parser';
import { FILE_START, hasErrors, JSONC_OPTIONS, LineIndex, rangeInTree } from './errors';
import type { JsonPath } from './errors';
import type { ConfigError, ExperimentConfig, StudentSpec } from './types';
import { validateExperimentTree } from './validate';

export { ExperimentError, formatConfigError, formatPath, hasErrors, locate } from './errors';
export type { JsonPath } from './errors';

/**
 * Parses and validates the text of an experiment file: syntax (first error only, since later
 * ones are usually its echoes), schema and semantic checks that need no file system. On success
 * `config` has every default filled in; `errors` may then still hold warnings.
 */
export function parseExperimentText(text: string, file: string): { config?: ExperimentConfig; errors: ConfigError[] } {
  // A byte-order mark is not JSON; blank it out so offsets still match the caller's text.
  const source = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  if (source.trim() === '') {
    return { errors: [error(file, [], FILE_START, 'the file is empty; expected an experiment object { "name": …, … }')] };
  }
  const parseErrors: ParseError[] = [];
  const root = parseTree(source, parseErrors, JSONC_OPTIONS);
  if (parseErrors.length > 0 || !root) {
    return { errors: [syntaxError(source, root, parseErrors[0], file)] };
  }
  return validateExperimentTree(root, source, file);
}

/**
 * Reads, parses and validates an experiment file, then checks that the files it names exist.
 * A missing or unreadable file gives one error at 1:1.
 */
export function loadExperiment(file: string): { config?: ExperimentConfig; errors: ConfigError[]; text?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { errors: [error(file, [], FILE_START, readErrorMessage(e))] };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // as editors do
  const parsed = parseExperimentText(text, file);
  if (!parsed.config) return { errors: parsed.errors, text };
  const errors = [...parsed.errors, ...checkFiles(parsed.config, file, text)].sort(
    (a, b) => a.location.offset - b.location.offset,
  );
  return { config: hasErrors(errors) ? undefined : parsed.config, errors, text };
}

/**
 * Like `loadExperiment`, for a text that is not (or not exactly) the file on disk — a sweep point's
 * experiment: relative paths still resolve against `file`'s folder.
 */
export function loadExperimentText(file: string, text: string): { config?: ExperimentConfig; errors: ConfigError[]; text: string } {
  const parsed = parseExperimentText(text, file);
  if (!parsed.config) return { errors: parsed.errors, text };
  const errors = [...parsed.errors, ...checkFiles(parsed.config, file, text)].sort((a, b) => a.location.offset - b.location.offset);
  return { config: hasErrors(errors) ? undefined : parsed.config, errors, text };
}

/**
 * Checks that the files the experiment names (model.json, model modules of the teacher, student,
 * ta-chain assistants and multi-kd teachers; IDX and CSV data) exist, relative to the experiment
 * file's folder. Each error is located at that path's value in `text`.
 */
export function checkFiles(config: ExperimentConfig, file: string, text: string): ConfigError[] {
  const dir = path.dirname(path.resolve(file));
  /** `kind`: what the path must be (default a file). */
  const refs: { at: JsonPath; value: string; kind?: 'file' | 'folder' | 'any' }[] = [];
  const model = (at: JsonPath, spec: StudentSpec | undefined): void => {
    if (!spec || 'derive' in spec) return;
    if ('model' in spec) refs.push({ at: [...at, 'model'], value: spec.model });
    else if ('module' in spec) refs.push({ at: [...at, 'module'], value: spec.module });
    // torch engine: a state_dict file loaded into a module's or torchvision's model.
    if (!('model' in spec) && spec.weights !== undefined) refs.push({ at: [...at, 'weights'], value: spec.weights });
  };
  model(['teacher'], config.teacher);
  model(['student'], config.student);
  if (config.scheme.kind === 'ta-chain') config.scheme.assistants.forEach((a, i) => model(['scheme', 'assistants', i], a));
  config.knowledge.forEach((k, i) => {
    if (k.method === 'multi-kd') k.teachers.forEach((t, j) => model(['knowledge', i, 'teachers', j], t));
  });
  for (const split of ['train', 'test'] as const) {
    const src = config.data[split];
    if (src.format === 'idx') {
      refs.push({ at: ['data', split, 'images'], value: src.images });
      refs.push({ at: ['data', split, 'labels'], value: src.labels });
    } else if (src.format === 'csv') {
      refs.push({ at: ['data', split, 'path'], value: src.path });
    } else if (src.format === 'images') {
      refs.push({ at: ['data', split, 'path'], value: src.path, kind: 'folder' });
    } else if (src.format === 'cifar10' || src.format === 'cifar100') {
      refs.push({ at: ['data', split, 'path'], value: src.path, kind: 'any' });
    } else if (src.format === 'npy') {
      refs.push({ at: ['data', split, 'inputs'], value: src.inputs });
      refs.push({ at: ['data', split, 'labels'], value: src.labels });
    } else if (src.format === 'npz') {
      refs.push({ at: ['data', split, 'path'], value: src.path });
    }
  }

  const errors: ConfigError[] = [];
  let root: Node | undefined;
  let lines: LineIndex | undefined;
  for (const ref of refs) {
    const resolved = path.resolve(dir, ref.value);
    let message: string | undefined;
    try {
      const dir = fs.statSync(resolved).isDirectory();
      if (dir && (ref.kind ?? 'file') === 'file') message = `expected a file, found a folder: ${resolved}`;
      if (!dir && ref.kind === 'folder') message = `expected a folder with one subfolder per class, found a file: ${resolved}`;
    } catch (e) {
      message = (e as NodeJS.ErrnoException).code === 'ENOENT'
        ? `${ref.kind === 'folder' ? 'folder' : ref.kind === 'any' ? 'file or folder' : 'file'} not found: ${resolved}` : `cannot read ${resolved}: ${(e as Error).message}`;
    }
    if (message === undefined) continue;
    root ??= parseTree(text, [], JSONC_OPTIONS);
    lines ??= new LineIndex(text);
    const range = rangeInTree(root, ref.at);
    errors.push(error(file, ref.at, lines.location(range.offset, range.length), message));
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------

function error(file: string, at: JsonPath, location: ConfigError['location'], message: string): ConfigError {
  return { file, path: at, location, message, severity: 'error' };
}

function readErrorMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'experiment file not found';
  if (code === 'EISDIR') return 'expected an experiment file, found a folder';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot read the experiment file: permission denied';
  return `cannot read the experiment file: ${(e as Error).message}`;
}

interface Opener {
  ch: '{' | '[';
  offset: number;
}

/** Turns jsonc-parser's first error into a located message that says what was expected. */
function syntaxError(text: string, root: Node | undefined, err: ParseError | undefined, file: string): ConfigError {
  const lines = new LineIndex(text);
  if (!err) return error(file, [], FILE_START, 'expected an experiment object { "name": …, … }');

  // Replay the tokens before the error: which brackets are open, what came last.
  const scanner = createScanner(text, true);
  const open: Opener[] = [];
  let prev = '';
  let sawValue = false;
  for (let kind = scanner.scan(); kind !== 17 /* EOF */ && scanner.getTokenOffset() < err.offset; kind = scanner.scan()) {
    const tok = text.slice(scanner.getTokenOffset(), scanner.getTokenOffset() + scanner.getTokenLength());
    if (tok === '{' || tok === '[') open.push({ ch: tok, offset: scanner.getTokenOffset() });
    else if (tok === '}' || tok === ']') open.pop();
    prev = tok;
    sawValue = true;
  }
  const container = open[open.length - 1];
  const token = text.slice(err.offset, err.offset + err.length);
  const atEnd = err.offset >= text.length;
  const afterRoot = sawValue && open.length === 0;
  let offset = err.offset;
  let length = err.length;
  const closer = (o: Opener | undefined): string =>
    o ? `a closing ${o.ch === '{' ? 'brace' : 'bracket'} for the "${o.ch}" at ${lines.location(o.offset).line}:${lines.location(o.offset).column}` : 'more';
  const commaOr = (o: Opener | undefined): string => `expected a comma or closing ${o?.ch === '[' ? 'bracket' : 'brace'}`;

  let message: string;
  switch (printParseErrorCode(err.error)) {
    case 'CommaExpected':
      if (/^\d/.test(token) && /\d/.test(text[err.offset - 1] ?? '')) message = 'invalid number: leading zeros are not allowed';
      else message = atEnd ? `unexpected end of file: expected ${closer(container)}` : commaOr(container);
      break;
    case 'CloseBraceExpected':
    case 'CloseBracketExpected':
      message = atEnd ? `unexpected end of file: expected ${closer(container)}` : commaOr(container);
      break;
    case 'ValueExpected':
      message = atEnd ? 'unexpected end of file: expected a value' : 'expected a value';
      break;
    case 'ColonExpected':
      message = atEnd ? 'unexpected end of file: expected a colon' : 'expected a colon after the property name';
      break;
    case 'PropertyNameExpected':
      message = atEnd ? `unexpected end of file: expected ${closer(container)}` : 'expected a property name in double quotes';
      break;
    case 'EndOfFileExpected':
      message = 'unexpected text after the end of the experiment object';
      break;
    case 'InvalidSymbol':
      if (afterRoot) message = 'unexpected text after the end of the experiment object';
      else if (container?.ch === '{' && (prev === '{' || prev === ',')) {
        message = `expected a property name in double quotes, found ${token}`;
      } else if (token.startsWith("'")) message = `expected a value, found ${token} (strings need double quotes)`;
      else if (/^-?(NaN|Infinity)$/.test(token)) message = `expected a value, found ${token} (JSON has no NaN or Infinity)`;
      else message = `expected a value, found ${token}`;
      break;
    case 'InvalidNumberFormat':
      message = `invalid number ${token}`;
      break;
    case 'UnexpectedEndOfNumber':
      message = `incomplete number ${token}`;
      break;
    case 'UnexpectedEndOfString':
      message = 'unterminated string: missing the closing quote';
      break;
    case 'UnexpectedEndOfComment':
      message = 'unterminated comment: missing "*/"';
      break;
    case 'InvalidCommentToken':
      message = 'invalid comment';
      break;
    case 'InvalidUnicode':
      message = 'invalid \\u escape in string (expected 4 hex digits)';
      break;
    case 'InvalidEscapeCharacter': {
      const m = /\\[^"\\/bfnrtu]/.exec(token);
      if (m) ({ offset, length } = { offset: err.offset + m.index, length: 2 });
      message = 'invalid escape in string: write a backslash as \\\\ (or use "/" in paths)';
      break;
    }
    case 'InvalidCharacter': {
      const m = /[\u0000-\u001f]/.exec(token);
      if (m) ({ offset, length } = { offset: err.offset + m.index, length: 1 });
      message = 'control character in string: use an escape such as \\n or \\t';
      break;
    }
    default:
      message = 'invalid JSON';
  }

  // The path of the enclosing object or array, when the partial tree has it.
  let at: JsonPath = [];
  if (root && container) {
    const node = findNodeAtOffset(root, container.offset);
    if (node && (node.type === 'object' || node.type === 'array') && node.offset === container.offset) at = getNodePath(node);
  }
  return error(file, at, lines.location(offset, length), message);
}
