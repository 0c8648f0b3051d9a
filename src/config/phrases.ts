/** Helpers of the schema interpreter and the rules: JSON-tree lookups and the phrases of their messages. */
import type { Node } from 'jsonc-parser';
import type { JsonPath } from './errors';
import type { JsonSchema } from './schema';
import { closest } from './names';

export function isPrimitive(node: Node): boolean {
  return node.type === 'string' || node.type === 'number' || node.type === 'boolean' || node.type === 'null';
}

export function propertyValue(node: Node, key: string): Node | undefined {
  let result: Node | undefined;
  for (const prop of node.children ?? []) {
    if (prop.children?.[0]?.value === key) result = prop.children[1];
  }
  return result;
}

export function findPath(root: Node, path: JsonPath): JsonPath | undefined {
  let node: Node | undefined = root;
  for (const seg of path) {
    if (!node || node.type !== 'object' || typeof seg !== 'string') return undefined;
    node = propertyValue(node, seg);
  }
  return node ? path : undefined;
}

export function constOf(s: JsonSchema): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum && s.enum.length === 1) return s.enum[0];
  return undefined;
}

export function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export function oneOfPhrase(values: unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length === 1 ? shown[0] : `one of ${shown.join(', ')}`;
}

export function bounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length > 0 ? ` ${parts.join(' and ')}` : '';
}

export function countPhrase(s: JsonSchema): string {
  const { minItems: min, maxItems: max } = s;
  const items = (n: number): string => `${n} item${n === 1 ? '' : 's'}`;
  if (min !== undefined && max !== undefined) return min === max ? items(min) : `${min} to ${max} items`;
  if (max !== undefined) return `at most ${items(max)}`;
  return `at least ${items(min ?? 0)}`;
}

export function requiredPhrase(required: string[], joiner = 'with'): string {
  const q = required.map((k) => `"${k}"`);
  return q.length <= 1 ? (q[0] ?? 'nothing') : `${q.slice(0, -1).join(', ')} ${joiner} ${q[q.length - 1]}`;
}

export function lastSegment(path: JsonPath): string {
  const last = path[path.length - 1];
  return last === undefined ? '' : String(last);
}

/**
 * `unknown field "epoch"; did you mean "epochs"?` (a known field not already `present`), or the list
 * of known fields.
 */
export function unknownFieldMessage(key: string, known: string[], present: ReadonlySet<string> = new Set()): string {
  const suggestion = closest(key, known.filter((k) => !present.has(k)));
  if (suggestion) return `unknown field "${key}"; did you mean "${suggestion}"?`;
  return `unknown field "${key}"; expected one of ${known.map((k) => `"${k}"`).join(', ')}`;
}
