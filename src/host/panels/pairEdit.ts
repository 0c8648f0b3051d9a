/**
 * The text edits behind the pairing panel's clicks, computed with jsonc-parser's `modify` so that
 * comments and formatting elsewhere in the experiment file are kept. Pure: text in, edits out;
 * the host turns them into one `WorkspaceEdit` (undoable like typing).
 *
 * - add: the pair goes into the first knowledge entry of that method (`pairs` array, appended);
 *   without one, a new entry `{ kind, method, weight, pairs: [pair] }` is appended to `knowledge`.
 * - remove: the pair is taken out of its entry; an entry left without pairs is removed whole
 *   (an entry with no pairs would not validate).
 */
import type { Edit, Node } from 'jsonc-parser';
import { applyEdits, createScanner, findNodeAtLocation, getNodeValue, parseTree, SyntaxKind } from 'jsonc-parser';
import { getMethodInfo, PAIR_METHODS } from '../../methods/catalogue';

export type PairEditResult = { ok: true; edits: Edit[]; text: string } | { ok: false; reason: string };


/** Methods whose entry takes exactly one pair (crd): another pair becomes a new entry of its own. */
const ONE_PAIR = new Set(['crd']);

/** Starting weight of a new entry (attention maps are small numbers: AT is usually weighted ×100). */
const WEIGHT: Record<string, number> = { at: 100 };

/** The weight the pairing panel proposes for a new entry of `method`. */
export function defaultPairWeight(method: string): number {
  return WEIGHT[method] ?? 1;
}

/** `{ "a": 1, "b": [2] }`: JSON on one line with spaces, the way people write short objects. */
export function inline(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(inline).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`).join(', ')} }`;
  return JSON.stringify(v);
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** The whitespace before `offset` when it starts its line (its indentation), else undefined. */
function ownLineIndent(text: string, offset: number): string | undefined {
  const before = text.slice(lineStart(text, offset), offset);
  return /^[ \t]*$/.test(before) ? before : undefined;
}

/**
 * The edits that append `value` to an array node, in the style of its last element: on a line of
 * its own when the last element is (after that element's trailing comment, which stays with it).
 */
function appendToArray(text: string, arr: Node, value: unknown): Edit[] {
  const kids = arr.children ?? [];
  const body = inline(value);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  if (kids.length === 0) return [{ offset: arr.offset + 1, length: arr.length - 2, content: body }];
  const last = kids[kids.length - 1];
  const end = last.offset + last.length;
  const indent = ownLineIndent(text, last.offset);
  if (indent === undefined) return [{ offset: end, length: 0, content: `, ${body}` }];
  let lineEnd = text.indexOf('\n', end);
  if (lineEnd < 0) lineEnd = text.length;
  if (text[lineEnd - 1] === '\r') lineEnd--;
  const rest = text.slice(end, lineEnd);
  if (/^\s*(\/\/.*|\/\*.*\*\/\s*)$/.test(rest)) {
    return [{ offset: end, length: 0, content: ',' }, { offset: lineEnd, length: 0, content: `${eol}${indent}${body}` }];
  }
  return [{ offset: end, length: 0, content: `,${eol}${indent}${body}` }];
}

/** The offset of the first `,` after `from` (skipping comments and whitespace), or -1. */
function commaAfter(text: string, from: number): number {
  const sc = createScanner(text, false);
  sc.setPosition(from);
  for (let k = sc.scan(); k !== SyntaxKind.EOF; k = sc.scan()) {
    if (k === SyntaxKind.CommaToken) return sc.getTokenOffset();
    if (k !== SyntaxKind.Trivia && k !== SyntaxKind.LineBreakTrivia && k !== SyntaxKind.LineCommentTrivia && k !== SyntaxKind.BlockCommentTrivia) return -1;
  }
  return -1;
}

/** Edits that remove element `i` of an array node and one separating comma; comments of other elements stay. */
function removeFromArray(text: string, arr: Node, i: number): Edit[] {
  const kids = arr.children ?? [];
  const el = kids[i];
  const indent = ownLineIndent(text, el.offset);
  const from = indent !== undefined && i > 0 ? lineStart(text, el.offset) - (text[lineStart(text, el.offset) - 2] === '\r' ? 2 : 1) : el.offset;
  if (i < kids.length - 1) {
    // element, its comma and the space up to the next element
    const next = kids[i + 1];
    const nextIndent = ownLineIndent(text, next.offset);
    const end = nextIndent !== undefined && indent !== undefined ? lineStart(text, next.offset) : next.offset;
    const start = indent !== undefined ? lineStart(text, el.offset) : el.offset;
    return [{ offset: start, length: end - start, content: '' }];
  }
  if (i === 0) return [{ offset: arr.offset + 1, length: arr.length - 2, content: '' }];
  // the last element: drop the comma after the previous element, then the element
  const prev = kids[i - 1];
  const comma = commaAfter(text, prev.offset + prev.length);
  const edits: Edit[] = [];
  if (comma >= 0) edits.push({ offset: comma, length: 1, content: '' });
  const start = indent !== undefined ? Math.max(from, comma + 1) : comma + 1;
  edits.push({ offset: start, length: el.offset + el.length - start, content: '' });
  return edits;
}

interface Entry { method?: string; pairs?: { teacher?: unknown; student?: unknown }[] }

/** `weight`: of a new entry (a pair joining an existing entry shares that entry's weight). */
export function addPairEdit(text: string, method: string, teacher: string, student: string, weight?: number): PairEditResult {
  const kind = (PAIR_METHODS as readonly string[]).includes(method) ? getMethodInfo(method)?.kind : undefined;
  if (!kind) return { ok: false, reason: `"${method}" does not pair layers` };
  const root = parseTree(text);
  if (!root || root.type !== 'object') return { ok: false, reason: 'the experiment file is not a JSON object' };
  const kNode = findNodeAtLocation(root, ['knowledge']);
  const entries = kNode?.type === 'array' ? (getNodeValue(kNode) as Entry[]) : undefined;
  const pair = { teacher, student };
  let edits: Edit[];
  const ei = entries?.findIndex((e) => e && e.method === method && Array.isArray(e.pairs)) ?? -1;
  if (ONE_PAIR.has(method) && entries?.some((e) => e && e.method === method && e.pairs?.some((p) => p.teacher === teacher && p.student === student))) {
    return { ok: false, reason: `${method} already pairs teacher "${teacher}" with student "${student}"` };
  }
  if (kNode && entries && ei >= 0 && !ONE_PAIR.has(method)) {
    if (entries[ei].pairs!.some((p) => p.teacher === teacher && p.student === student)) {
      return { ok: false, reason: `${method} already pairs teacher "${teacher}" with student "${student}"` };
    }
    edits = appendToArray(text, findNodeAtLocation(root, ['knowledge', ei, 'pairs'])!, pair);
  } else {
    const entry = { kind, method, weight: weight ?? defaultPairWeight(method), pairs: [pair] };
    if (kNode && entries) {
      edits = appendToArray(text, kNode, entry);
    } else {
      const props = root.children ?? [];
      const last = props[props.length - 1];
      const indent = last ? ownLineIndent(text, last.offset) ?? '  ' : '  ';
      const eol = text.includes('\r\n') ? '\r\n' : '\n';
      edits = [last ? { offset: last.offset + last.length, length: 0, content: `,${eol}${indent}"knowledge": [${inline(entry)}]` }
        : { offset: root.offset + 1, length: 0, content: `"knowledge": [${inline(entry)}]` }];
    }
  }
  return { ok: true, edits, text: applyEdits(text, edits) };
}

export function removePairEdit(text: string, entry: number, pair: number, expect?: { teacher: string; student: string }): PairEditResult {
  const root = parseTree(text);
  const kNode = root ? findNodeAtLocation(root, ['knowledge']) : undefined;
  const entries = kNode?.type === 'array' ? (getNodeValue(kNode) as Entry[]) : undefined;
  const e = entries?.[entry];
  const p = e?.pairs?.[pair];
  if (!kNode || !e || !p) return { ok: false, reason: `the experiment file has no knowledge[${entry}].pairs[${pair}] (it changed since the panel was drawn)` };
  if (expect && (p.teacher !== expect.teacher || p.student !== expect.student)) {
    return { ok: false, reason: `knowledge[${entry}].pairs[${pair}] is no longer "${expect.teacher}" ↔ "${expect.student}" (the file changed)` };
  }
  const edits = e.pairs!.length === 1
    ? removeFromArray(text, kNode, entry)
    : removeFromArray(text, findNodeAtLocation(root!, ['knowledge', entry, 'pairs'])!, pair);
  return { ok: true, edits, text: applyEdits(text, edits) };
}
