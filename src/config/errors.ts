/**
 * Located errors for the experiment file: JSON paths, source locations, formatting.
 * Pure (no `vscode`, no file system): shared by the engine, the CLI and the extension host.
 */
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import type { Node } from 'jsonc-parser';
import type { ConfigError, SourceLocation } from './types';

export type JsonPath = (string | number)[];

/** jsonc-parser options for experiment files: comments and trailing commas are allowed. */
export const JSONC_OPTIONS = { allowTrailingComma: true, disallowComments: false } as const;

/** `['knowledge', 0, 'temperature']` → `knowledge[0].temperature`. */
export function formatPath(path: JsonPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** `exp.distill.json:12:20  training.epochs: expected an integer ≥ 1, found "ten"`. */
export function formatConfigError(e: ConfigError): string {
  const where = `${e.file}:${e.location.line}:${e.location.column}`;
  const severity = e.severity === 'warning' ? 'warning: ' : '';
  const dotted = formatPath(e.path);
  return `${where}  ${severity}${dotted === '' ? '' : `${dotted}: `}${e.message}`;
}

/** True when at least one of `errors` is an error (not a warning). */
export function hasErrors(errors: readonly ConfigError[]): boolean {
  return errors.some((e) => e.severity === 'error');
}

/** Thrown by callers that need a valid experiment; `message` lists every formatted error. */
export class ExperimentError extends Error {
  constructor(public readonly errors: ConfigError[]) {
    super(errors.map(formatConfigError).join('\n'));
    this.name = 'ExperimentError';
  }
}

/** Offset → 1-based line/column; columns count UTF-16 code units, as VS Code does. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 13 /* \r */) {
        if (text.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      } else if (ch === 10 /* \n */) {
        this.starts.push(i + 1);
      }
    }
  }

  location(offset: number, length = 0): SourceLocation {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo] + 1, offset, length };
  }
}

/** The start of the file, for problems that have no better place (missing or empty file). */
export const FILE_START: SourceLocation = { line: 1, column: 1, offset: 0, length: 0 };

/**
 * Where to point at an object or array as a whole (e.g. for a missing field): its key when it is a
 * property value (`"training"`), else its opening brace/bracket.
 */
export function containerRange(node: Node): { offset: number; length: number } {
  const parent = node.parent;
  if (parent && parent.type === 'property' && parent.children && parent.children[0]) {
    const key = parent.children[0];
    return { offset: key.offset, length: key.length };
  }
  return { offset: node.offset, length: Math.min(node.length, 1) };
}

/**
 * The range of the value at `path` in a parsed tree; when there is no such value, the range of
 * the nearest existing ancestor as a container (its key, or its opening brace).
 */
export function rangeInTree(root: Node | undefined, path: JsonPath): { offset: number; length: number } {
  if (!root) return { offset: 0, length: 0 };
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? root : findNodeAtLocation(root, path.slice(0, n));
    if (!node) continue;
    if (n === path.length) return { offset: node.offset, length: node.length };
    return containerRange(node);
  }
  return { offset: root.offset, length: Math.min(root.length, 1) };
}

/**
 * Location of the value at `path` in `text` (1-based line/column), or of the nearest existing
 * parent (its key when it has one) when the path does not exist.
 */
export function locate(text: string, path: JsonPath): SourceLocation {
  const root = parseTree(text, [], JSONC_OPTIONS);
  const { offset, length } = rangeInTree(root, path);
  return new LineIndex(text).location(offset, length);
}
