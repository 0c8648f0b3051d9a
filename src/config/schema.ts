/**
 * The schema interpreter: checks a parsed experiment file against `schema/experiment.schema.json`
 * (the same file VS Code uses for completion and hover), written by hand so that each problem gives
 * exactly one clear message:
 * - unions (`oneOf`) are resolved by their discriminator (`format`, `kind` + `method`: properties that
 *   are a `const` in every branch) or, without one, by the keys only one branch has (`model` vs
 *   `module`/`export`); only the chosen branch's errors are reported;
 * - a value of the wrong type or out of range gives one `expected …, found …` message;
 * - unknown fields suggest the closest known name;
 * - `patternErrorMessage` (VS Code's) and `minItemsErrorMessage` (ours, e.g. an empty `pairs` list)
 *   replace the generic message.
 * Only the keywords in `SUPPORTED_KEYWORDS` may appear in the schema (a unit test checks it). The
 * schema's own `default`s are filled in as values are checked.
 */
import { getNodeValue } from 'jsonc-parser';
import type { Node } from 'jsonc-parser';
import schemaJson from '../../schema/experiment.schema.json';
import { containerRange } from './errors';
import type { JsonPath } from './errors';
import { closest } from './names';
import { isPrimitive, propertyValue, constOf, unique, oneOfPhrase, bounds, countPhrase, requiredPhrase, lastSegment, unknownFieldMessage } from './phrases';

/** The subset of JSON Schema draft-07 the experiment schema uses. */
export interface JsonSchema {
  $ref?: string;
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  /** VS Code extension keyword: the message for a `pattern` mismatch. */
  patternErrorMessage?: string;
  /** Our keyword (editors ignore it): the whole message for an array with fewer than `minItems` items. */
  minItemsErrorMessage?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  oneOf?: JsonSchema[];
  default?: unknown;
  title?: string;
  description?: string;
  markdownDescription?: string;
  definitions?: Record<string, JsonSchema>;
}

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

/** Keywords the validator understands (validation) or may ignore (annotations). */
export const SUPPORTED_KEYWORDS: ReadonlySet<string> = new Set([
  // validation
  '$ref', 'type', 'properties', 'required', 'additionalProperties', 'enum', 'const', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'pattern', 'items', 'minItems',
  'maxItems', 'uniqueItems', 'oneOf', 'default', 'definitions',
  // annotations (editor only)
  '$schema', '$id', 'title', 'description', 'markdownDescription', 'patternErrorMessage', 'minItemsErrorMessage', 'examples',
  'markdownEnumDescriptions', 'enumDescriptions', 'defaultSnippets', 'deprecationMessage',
]);

/** The experiment file's JSON Schema (`schema/experiment.schema.json`). */
export const experimentSchema = schemaJson as unknown as JsonSchema;

/** A problem found while validating, before it is given a line and column. */
export interface Problem {
  path: JsonPath;
  message: string;
  offset: number;
  length: number;
  severity: 'error' | 'warning';
}

// ---------------------------------------------------------------------------------------------
// Schema-driven checks

export class Validator {
  readonly problems: Problem[] = [];
  /** Keys of an object that belong to another branch of its union than the one picked. */
  private readonly foreign = new WeakMap<Node, { keys: Set<string>; picked: string[] }>();

  constructor(
    private readonly rootSchema: JsonSchema,
    private readonly text: string,
  ) {}

  /** Checks `node` against `schema`; returns its value with defaults filled (undefined if invalid). */
  check(node: Node, schema: JsonSchema, path: JsonPath): unknown {
    const s = this.resolve(schema);
    if (s.oneOf) {
      const branch = this.pickBranch(node, s, path);
      return branch ? this.check(node, branch, path) : undefined;
    }
    if (s.const !== undefined || s.enum) {
      const allowed = s.const !== undefined ? [s.const] : (s.enum as unknown[]);
      const value = isPrimitive(node) ? getNodeValue(node) : undefined;
      if (!allowed.some((a) => a === value)) return this.mismatch(node, s, path);
      return value;
    }
    if (!this.typeMatches(node, s)) return this.mismatch(node, s, path);

    switch (node.type) {
      case 'number':
        return this.checkNumber(node, s, path);
      case 'string':
        return this.checkString(node, s, path);
      case 'array':
        return this.checkArray(node, s, path);
      case 'object':
        return this.checkObject(node, s, path);
      default:
        return node.value;
    }
  }

  resolve(schema: JsonSchema): JsonSchema {
    let s = schema;
    for (let depth = 0; s.$ref !== undefined; depth++) {
      const m = /^#\/definitions\/(.+)$/.exec(s.$ref);
      const target = m ? this.rootSchema.definitions?.[m[1]] : undefined;
      if (!target || depth > 20) throw new Error(`experiment schema: cannot resolve $ref ${s.$ref}`);
      s = target;
    }
    return s;
  }

  private typeMatches(node: Node, s: JsonSchema): boolean {
    if (s.type === undefined) return true;
    const types = Array.isArray(s.type) ? s.type : [s.type];
    return types.some((t) => {
      if (t === 'integer') return node.type === 'number' && Number.isInteger(node.value);
      return t === node.type;
    });
  }

  private mismatch(node: Node, s: JsonSchema, path: JsonPath): undefined {
    const finite = node.type === 'number' && !Number.isFinite(node.value);
    this.report(path, node, `expected ${this.expected(s, finite)}, found ${this.found(node)}`);
    return undefined;
  }

  private checkNumber(node: Node, s: JsonSchema, path: JsonPath): unknown {
    const v = node.value as number;
    const ok =
      Number.isFinite(v) &&
      (s.minimum === undefined || v >= s.minimum) &&
      (s.maximum === undefined || v <= s.maximum) &&
      (s.exclusiveMinimum === undefined || v > s.exclusiveMinimum) &&
      (s.exclusiveMaximum === undefined || v < s.exclusiveMaximum);
    return ok ? v : this.mismatch(node, s, path);
  }

  private checkString(node: Node, s: JsonSchema, path: JsonPath): unknown {
    const v = node.value as string;
    if ((s.minLength !== undefined && v.length < s.minLength) || (s.maxLength !== undefined && v.length > s.maxLength)) {
      const range =
        s.maxLength !== undefined && v.length > s.maxLength
          ? `a string of at most ${s.maxLength} characters`
          : s.minLength === 1 ? 'a non-empty string' : `a string of at least ${s.minLength} characters`;
      this.report(path, node, `expected ${range}, found ${this.found(node)}`);
      return undefined;
    }
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) {
      const expected = s.patternErrorMessage ?? `expected a string matching ${s.pattern}`;
      this.report(path, node, `${expected}, found ${this.found(node)}`);
      return undefined;
    }
    return v;
  }

  private checkArray(node: Node, s: JsonSchema, path: JsonPath): unknown {
    const children = node.children ?? [];
    const tooFew = s.minItems !== undefined && children.length < s.minItems;
    const tooMany = s.maxItems !== undefined && children.length > s.maxItems;
    if (tooFew || tooMany) {
      const message =
        tooFew && s.minItemsErrorMessage !== undefined
          ? s.minItemsErrorMessage
          : children.length === 0 && s.minItems === 1
          ? `expected ${this.expected({ ...s, maxItems: undefined })}, found []`
          : `expected ${countPhrase(s)}, found ${children.length} item${children.length === 1 ? '' : 's'}`;
      this.report(path, node, message);
      return undefined;
    }
    const out: unknown[] = children.map((child, i) => (s.items ? this.check(child, s.items, [...path, i]) : getNodeValue(child)));
    if (s.uniqueItems) {
      const seen = new Map<string, number>();
      children.forEach((child, i) => {
        const key = JSON.stringify(getNodeValue(child));
        const first = seen.get(key);
        if (first === undefined) seen.set(key, i);
        else this.report([...path, i], child, `duplicate value ${this.found(child)} (same as ${lastSegment(path)}[${first}])`);
      });
    }
    return out;
  }

  private checkObject(node: Node, s: JsonSchema, path: JsonPath): unknown {
    const props = s.properties ?? {};
    const present = new Map<string, Node>(); // key → value node of the last occurrence
    const firstKey = new Map<string, Node>();
    for (const prop of node.children ?? []) {
      const [keyNode, valueNode] = prop.children ?? [];
      if (!keyNode) continue;
      const key = keyNode.value as string;
      const earlier = firstKey.get(key);
      if (earlier) {
        this.report([...path, key], keyNode, `duplicate field "${key}"`);
      } else {
        firstKey.set(key, keyNode);
      }
      if (valueNode) present.set(key, valueNode);
    }

    // A misspelt field ("epoch") is one problem: the unknown-field error names the missing one.
    const misspelt = new Set<string>();
    if (s.additionalProperties === false) {
      for (const key of present.keys()) {
        const guess = Object.prototype.hasOwnProperty.call(props, key) ? undefined : closest(key, Object.keys(props));
        if (guess !== undefined && !present.has(guess)) misspelt.add(guess);
      }
    }

    const out: Record<string, unknown> = {};
    // Known fields in schema order (so a resolved config reads the same whatever the file's order).
    for (const [key, propSchema] of Object.entries(props)) {
      const valueNode = present.get(key);
      if (valueNode) {
        const v = this.check(valueNode, propSchema, [...path, key]);
        // `$schema` only tells editors where the schema is; it is not part of the experiment.
        if (v !== undefined && !key.startsWith('$')) out[key] = v;
      } else if ((s.required ?? []).includes(key)) {
        if (misspelt.has(key)) continue;
        const at = containerRange(node);
        this.problems.push({ path, message: `missing required field "${key}"`, ...at, severity: 'error' });
      } else {
        const def = propSchema.default ?? this.resolve(propSchema).default;
        if (def !== undefined) out[key] = structuredClone(def);
      }
    }
    // Other fields.
    for (const [key, valueNode] of present) {
      if (Object.prototype.hasOwnProperty.call(props, key)) continue;
      const extra = s.additionalProperties;
      if (extra === false) {
        const keyNode = firstKey.get(key) as Node;
        const other = this.foreign.get(node);
        const message = other?.keys.has(key)
          ? `"${key}" cannot be combined with ${requiredPhrase(other.picked, 'and')}`
          : unknownFieldMessage(key, Object.keys(props), new Set(present.keys()));
        this.report([...path, key], keyNode, message);
      } else if (extra && typeof extra === 'object') {
        const v = this.check(valueNode, extra, [...path, key]);
        if (v !== undefined) out[key] = v;
      } else {
        out[key] = getNodeValue(valueNode);
      }
    }
    return out;
  }

  /**
   * Picks the branch of a union for an object: by the discriminator properties (a `const` in every
   * branch), else by the keys only one branch has. Reports one problem and returns undefined when
   * no branch fits.
   */
  private pickBranch(node: Node, s: JsonSchema, path: JsonPath): JsonSchema | undefined {
    const branches = (s.oneOf ?? []).map((b) => this.resolve(b));
    if (node.type !== 'object') {
      this.mismatch(node, s, path);
      return undefined;
    }
    const discriminators = this.discriminators(branches);
    if (discriminators.length > 0) {
      let candidates = branches;
      for (const d of discriminators) {
        const valueNode = propertyValue(node, d);
        // A discriminator the only remaining branch gives a default (the adversarial entry's
        // "method") may be left out: that branch, with the default filled in.
        const byDefault = !valueNode && candidates.length === 1 && this.resolve(candidates[0].properties![d]).default !== undefined;
        if (byDefault) continue;
        if (!valueNode) {
          if (!this.reportMisspelt(node, [d], path)) {
            this.problems.push({ path, message: `missing required field "${d}"`, ...containerRange(node), severity: 'error' });
          }
          return undefined;
        }
        const value = isPrimitive(valueNode) ? getNodeValue(valueNode) : undefined;
        const allowed = unique(candidates.map((b) => constOf(this.resolve(b.properties![d]))));
        const next = candidates.filter((b) => constOf(this.resolve(b.properties![d])) === value);
        if (next.length === 0) {
          this.report([...path, d], valueNode, `expected ${oneOfPhrase(allowed)}, found ${this.found(valueNode)}`);
          return undefined;
        }
        candidates = next;
      }
      return candidates[0];
    }

    // Key-based: score each branch by the keys of `node` that belong to it alone.
    const keys = (node.children ?? []).map((p) => p.children?.[0]?.value as string);
    let best: JsonSchema | undefined;
    let bestScore = 0;
    for (const b of branches) {
      const own = Object.keys(b.properties ?? {}).filter(
        (k) => !branches.some((o) => o !== b && o.properties && Object.prototype.hasOwnProperty.call(o.properties, k)),
      );
      const score = keys.filter((k) => own.includes(k)).length;
      if (score > bestScore) {
        best = b;
        bestScore = score;
      }
    }
    if (!best) {
      const names = unique(branches.flatMap((b) => Object.keys(b.properties ?? {})));
      if (this.reportMisspelt(node, names, path)) return undefined;
      const alternatives = branches.map((b) => requiredPhrase(b.required ?? []));
      const message =
        alternatives.length >= 2 && alternatives.length <= 4
          ? `missing required field ${alternatives[0]} (or ${alternatives.slice(1).join(', or ')})`
          : `missing required fields: one of ${alternatives.join(', or ')}`;
      this.problems.push({ path, message, ...containerRange(node), severity: 'error' });
      return undefined;
    }
    const picked = best;
    const foreignKeys = keys.filter(
      (k) => !Object.prototype.hasOwnProperty.call(picked.properties ?? {}, k) && branches.some((b) => b.properties && k in b.properties),
    );
    if (foreignKeys.length > 0) this.foreign.set(node, { keys: new Set(foreignKeys), picked: picked.required ?? [] });
    return best;
  }

  /** Reports the keys of `node` that look like misspellings of `names`; false when there are none. */
  private reportMisspelt(node: Node, names: string[], path: JsonPath): boolean {
    let reported = false;
    for (const prop of node.children ?? []) {
      const keyNode = prop.children?.[0];
      const key = keyNode?.value as string | undefined;
      if (!keyNode || key === undefined || names.includes(key)) continue;
      const guess = closest(key, names);
      if (guess === undefined) continue;
      this.report([...path, key], keyNode, `unknown field "${key}"; did you mean "${guess}"?`);
      reported = true;
    }
    return reported;
  }

  /** Properties that are a `const` (or one-value `enum`) in every branch, in the first branch's order. */
  private discriminators(branches: JsonSchema[]): string[] {
    const first = branches[0]?.properties ?? {};
    return Object.keys(first).filter((k) =>
      branches.every((b) => b.properties?.[k] !== undefined && constOf(this.resolve(b.properties[k])) !== undefined),
    );
  }

  /** `an integer ≥ 1`, `one of "adam", "sgd"`, `a non-empty array of integers`, … */
  expected(schema: JsonSchema, finite = false): string {
    const s = this.resolve(schema);
    if (s.const !== undefined || s.enum) return oneOfPhrase(s.const !== undefined ? [s.const] : (s.enum as unknown[]));
    if (s.oneOf) {
      const branches = s.oneOf.map((b) => this.resolve(b));
      if (this.discriminators(branches).length > 0) return 'an object';
      return `an object with ${branches.map((b) => requiredPhrase(b.required ?? [], 'and')).join(' or with ')}`;
    }
    const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
    if (types.length === 0) return 'a value';
    return types.map((t) => this.typePhrase(t, s, finite)).join(' or ');
  }

  private typePhrase(t: JsonType, s: JsonSchema, finite: boolean): string {
    switch (t) {
      case 'integer':
        return `an integer${bounds(s)}`;
      case 'number':
        return `${finite ? 'a finite number' : 'a number'}${bounds(s)}`;
      case 'string':
        return s.minLength !== undefined && s.minLength > 0 ? 'a non-empty string' : 'a string';
      case 'boolean':
        return 'true or false';
      case 'object':
        return 'an object';
      case 'null':
        return 'null';
      case 'array': {
        if (s.minItems !== undefined && s.minItems === s.maxItems && s.items) return `an array of ${s.minItems} ${this.pluralPhrase(s.items)}`;
        const head = s.minItems !== undefined && s.minItems > 0 && s.maxItems === undefined ? 'a non-empty array' : 'an array';
        return s.items ? `${head} of ${this.pluralPhrase(s.items)}` : head;
      }
    }
  }

  private pluralPhrase(schema: JsonSchema): string {
    const s = this.resolve(schema);
    if (s.oneOf) return 'objects';
    const t = Array.isArray(s.type) ? s.type[0] : s.type;
    switch (t) {
      case 'integer':
        return `integers${bounds(s)}`;
      case 'number':
        return `numbers${bounds(s)}`;
      case 'string':
        return 'strings';
      case 'object':
        return 'objects';
      default:
        return 'values';
    }
  }

  private report(path: JsonPath, node: Node, message: string): void {
    this.problems.push({ path, message, offset: node.offset, length: node.length, severity: 'error' });
  }

  /** How the value was written: strings and numbers as in the source, containers by kind. */
  private found(node: Node): string {
    switch (node.type) {
      case 'object':
        return node.children && node.children.length > 0 ? 'an object' : '{}';
      case 'array':
        return node.children && node.children.length > 0 ? 'an array' : '[]';
      case 'string':
      case 'number': {
        const src = this.text.slice(node.offset, node.offset + node.length);
        return src.length > 60 ? `${src.slice(0, 56)}…` : src;
      }
      default:
        return String(node.value);
    }
  }
}
