/**
 * Validates a parsed experiment file against `schema/experiment.schema.json` and the semantic rules
 * a JSON Schema cannot express, producing the typed config (defaults filled) and located errors.
 *
 * The validator is driven by the schema (the same file VS Code uses for completion and hover), but
 * written by hand so that each problem gives exactly one clear message:
 * - unions (`oneOf`) are resolved by their discriminator (`format`, `kind` + `method`: properties that
 *   are a `const` in every branch) or, without one, by the keys only one branch has (`model` vs
 *   `module`/`export`); only the chosen branch's errors are reported;
 * - a value of the wrong type or out of range gives one `expected …, found …` message;
 * - unknown fields suggest the closest known name;
 * - `patternErrorMessage` (VS Code's) and `minItemsErrorMessage` (ours, e.g. an empty `pairs` list)
 *   replace the generic message.
 * Only the keywords in `SUPPORTED_KEYWORDS` may appear in the schema (a unit test checks it).
 */
import { getNodeValue } from 'jsonc-parser';
import type { Node } from 'jsonc-parser';
import schemaJson from '../../schema/experiment.schema.json';
import { containerRange, LineIndex, rangeInTree } from './errors';
import { formatPath } from './errors';
import type { JsonPath } from './errors';
import type { ConfigError, ExperimentConfig, FspPair, LayerPair, TrainingConfig } from './types';

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
interface Problem {
  path: JsonPath;
  message: string;
  offset: number;
  length: number;
  severity: 'error' | 'warning';
}

/**
 * Validates the tree of a syntactically valid experiment file. Returns the config with defaults
 * filled when there is no error (warnings allowed), and every problem, sorted by position.
 */
export function validateExperimentTree(
  root: Node,
  text: string,
  file: string,
): { config?: ExperimentConfig; errors: ConfigError[] } {
  const v = new Validator(experimentSchema, text);
  const value = v.check(root, experimentSchema, []);
  checkTeacherPresent(root, value, v.problems);
  // Semantic rules read the typed config, so they run once the file matches the schema.
  if (v.problems.length === 0) {
    // The sweep is checked against the file as written (before the semantic checks complete it).
    const sweep: Problem[] = [];
    checkSweep(root, value as ExperimentConfig, new Validator(experimentSchema, text), sweep);
    semanticChecks(root, value, v.problems);
    v.problems.push(...sweep);
  }

  const lines = new LineIndex(text);
  const errors: ConfigError[] = v.problems
    .sort((a, b) => a.offset - b.offset)
    .map((p) => ({
      file,
      path: p.path,
      location: lines.location(p.offset, p.length),
      message: p.message,
      severity: p.severity,
    }));
  const ok = !errors.some((e) => e.severity === 'error');
  return { config: ok ? (value as ExperimentConfig) : undefined, errors };
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
        alternatives.length >= 2 && alternatives.length <= 3
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

// ---------------------------------------------------------------------------------------------
// Semantic checks (need no file system)

const MISSING_TEACHER = 'missing required field "teacher" (only scheme "self" works without a teacher)';

/**
 * `teacher` is optional in the schema (scheme `self` needs none) but every other scheme needs one.
 * Checked with the schema errors so that it is reported together with them; skipped when the
 * scheme is invalid (its kind unknown) or when a misspelt key was already reported as the teacher.
 */
function checkTeacherPresent(root: Node, value: unknown, problems: Problem[]): void {
  if (root.type !== 'object' || propertyValue(root, 'teacher')) return;
  const kind = (value as Partial<ExperimentConfig> | undefined)?.scheme?.kind;
  if (kind === undefined || kind === 'self') return;
  const known = Object.keys(experimentSchema.properties ?? {});
  const misspelt = (root.children ?? []).some((prop) => {
    const key = prop.children?.[0]?.value as string | undefined;
    return key !== undefined && !known.includes(key) && closest(key, known) === 'teacher';
  });
  if (misspelt) return;
  problems.push({ path: [], message: MISSING_TEACHER, ...containerRange(root), severity: 'error' });
}

function semanticChecks(root: Node, value: unknown, problems: Problem[]): void {
  const config = value as ExperimentConfig;
  const at = (path: JsonPath, message: string, severity: 'error' | 'warning' = 'error'): void => {
    problems.push({ path, message, ...rangeInTree(root, path), severity });
  };
  const epochs = config.training.epochs;

  // Synthetic data: the shape must match the kind.
  for (const split of ['train', 'test'] as const) {
    const src = config.data[split];
    if (src.format !== 'synthetic') continue;
    const want = src.kind === 'images' ? 3 : 1;
    if (src.shape.length !== want) {
      const what = src.kind === 'images' ? '3 dimensions [H, W, C]' : '1 dimension [D]';
      at(['data', split, 'shape'], `expected ${what} for kind "${src.kind}", found [${src.shape.join(', ')}]`);
    }
  }

  // Scheme ↔ teacher. (A missing teacher is reported with the schema errors.)
  const scheme = config.scheme;
  if (scheme.kind === 'online' && config.teacher) {
    if ('model' in config.teacher) {
      at(['teacher', 'model'],
        'scheme "online" trains the teacher together with the students, so it must be built fresh from a module ' +
        '({"module", "export"}); a pre-trained model.json teacher is frozen — use scheme "offline"');
    }
    if (config.teacher.train) {
      at(['teacher', 'train'],
        'scheme "online" trains the teacher together with the students (with "training"), so it is not trained first: remove "train"');
    }
  }
  if (scheme.kind === 'self') {
    if (config.teacher) {
      at(['teacher'], 'scheme "self" uses no teacher (the student teaches itself through auxiliary heads): this teacher is ignored', 'warning');
    }
    const seen = new Map<string, number>();
    scheme.heads.forEach((head, i) => {
      const first = seen.get(head.layer);
      if (first === undefined) seen.set(head.layer, i);
      else at(['scheme', 'heads', i, 'layer'], `duplicate head on layer ${JSON.stringify(head.layer)} (same as heads[${first}])`);
    });
  }

  // Knowledge entries. Layer names are checked by the engine, which has the models.
  config.knowledge.forEach((k, i) => {
    const here: JsonPath = ['knowledge', i];
    if (k.kind !== 'response') {
      const pairs: (LayerPair | FspPair)[] = k.pairs;
      const seen = new Map<string, number>();
      pairs.forEach((p, j) => {
        const key = JSON.stringify([p.teacher, p.student]);
        const first = seen.get(key);
        if (first === undefined) {
          seen.set(key, j);
          return;
        }
        const name = (l: string | string[]): string => (Array.isArray(l) ? `[${l.map((s) => JSON.stringify(s)).join(', ')}]` : JSON.stringify(l));
        at([...here, 'pairs', j],
          `duplicate layer pair: teacher ${name(p.teacher)} and student ${name(p.student)} are already paired in pairs[${first}] (the term would count them twice)`,
          'warning');
      });
    }
    const longer = (n: number): string => `(${n} epochs) is longer than the training ("training.epochs": ${epochs})`;
    if (k.schedule.kind === 'linear-warmup' && k.schedule.epochs > epochs) {
      at([...here, 'schedule', 'epochs'], `the warm-up ${longer(k.schedule.epochs)}: this term never reaches its full weight`, 'warning');
    }
    if (k.method === 'dkd' && k.warmup > epochs) {
      at([...here, 'warmup'], `the warm-up ${longer(k.warmup)}: this term never reaches its full weight`, 'warning');
    }
    if (k.method === 'multi-kd' && k.teacherWeight === 0 && k.teachers.every((t) => t.weight === 0)) {
      at([...here, 'teacherWeight'], 'every teacher of this multi-kd term has weight 0: give "teacherWeight" or one of "teachers" a weight > 0');
    }
    // --- issue 17 ---
    if (k.method === 'dist' && k.gamma > 0 && config.training.batchSize === 1) {
      at([...here, 'gamma'], 'dist: the intra-class relation compares the samples of a batch, and "training.batchSize" is 1: it is constant and teaches nothing. Raise "training.batchSize" or set "gamma" to 0', 'warning');
    }
    if (k.method === 'ctkd' && k.initialTemperature !== undefined
      && !(k.initialTemperature > k.minTemperature && k.initialTemperature < k.minTemperature + k.temperatureRange)) {
      at([...here, 'initialTemperature'], `ctkd: the temperature spans minTemperature ${k.minTemperature} … minTemperature + temperatureRange ${k.minTemperature + k.temperatureRange} (exclusive): give an initialTemperature inside it, or widen "temperatureRange"`);
    }
    if (k.method === 'ctkd' && k.reversalEpochs > epochs) {
      at([...here, 'reversalEpochs'], `the reversal curriculum ${longer(k.reversalEpochs)}: the temperature never meets its full reversal weight (maxReversal)`, 'warning');
    }
    if (k.method === 'reviewkd' && k.pairs.length === 1) {
      at([...here, 'pairs'], 'reviewkd with one stage has nothing to review (no deeper stage to fuse): it is then a 3×3-convolution hint; list several stages, shallowest first, or use "fitnet"', 'warning');
    }
    // --- end issue 17 ---
    if (k.method === 'fitnet' && k.hintEpochs !== undefined && k.hintEpochs >= epochs) {
      at([...here, 'hintEpochs'],
        `the hint stage (${k.hintEpochs} epochs) must be shorter than the training ("training.epochs": ${epochs}), or no epoch is left to train the whole student`);
    }
  });

  // The total loss must have at least one term with a positive weight.
  const weights = [...config.knowledge.map((k) => k.weight), config.labels.weight];
  if (weights.every((w) => w === 0)) {
    const path = findPath(root, ['labels', 'weight']) ?? ['labels'];
    at(path, 'every loss term has weight 0: give "labels" or a "knowledge" entry a weight > 0');
  }
  // Online and self schemes distil through their peers / heads even without knowledge entries.
  if (config.knowledge.length === 0 && scheme.kind !== 'online' && scheme.kind !== 'self') {
    at(['knowledge'], 'no knowledge entries: the student learns from the labels only, like the baseline', 'warning');
  }

  if (config.knowledge.length > 0 && (scheme.kind === 'online' || scheme.kind === 'self')) {
    at(['knowledge'], scheme.kind === 'online'
      ? 'scheme "online" does not use these entries: the peers learn from each other through the mutual KL (see "scheme.temperature")'
      : 'scheme "self" does not use these entries: the auxiliary heads learn from the network\'s own output and features', 'warning');
  }

  // Optimizers: momentum is only read by `momentum` and `rmsprop`; `momentum` defaults to 0.9.
  const trainings: [JsonPath, TrainingConfig | undefined][] = [
    [['training'], config.training],
    [['teacher', 'train'], config.teacher?.train],
    [['student', 'train'], 'derive' in config.student ? undefined : config.student.train],
  ];
  if (scheme.kind === 'ta-chain') {
    scheme.assistants.forEach((a, i) => trainings.push([['scheme', 'assistants', i, 'train'], a.train]));
  }
  for (const [path, training] of trainings) {
    if (!training) continue;
    const opt = training.optimizer;
    if (opt.momentum !== undefined && (opt.kind === 'adam' || opt.kind === 'sgd')) {
      at([...path, 'optimizer', 'momentum'], `ignored by the "${opt.kind}" optimizer (only "momentum" and "rmsprop" use it)`, 'warning');
    }
    if (opt.kind === 'momentum' && opt.momentum === undefined) opt.momentum = 0.9;
    const every = training.checkpointEvery;
    if (every && every.steps === undefined && every.minutes === undefined) {
      at([...path, 'checkpointEvery'], 'expected "steps" and/or "minutes" (e.g. { "minutes": 1 }), found an empty object');
    }
    // Learning-rate schedules.
    const schedule = opt.schedule ?? 'constant';
    if ((opt.warmupEpochs ?? 0) >= training.epochs) {
      at([...path, 'optimizer', 'warmupEpochs'], `the warm-up (${opt.warmupEpochs} epochs) must be shorter than the training (${training.epochs} epochs)`);
    }
    if (opt.minLearningRate !== undefined && opt.minLearningRate > 0 && opt.minLearningRate >= opt.learningRate) {
      at([...path, 'optimizer', 'minLearningRate'], `must be below learningRate (${opt.learningRate}): the cosine schedule decays from learningRate to minLearningRate`);
    }
    if (schedule === 'step' && opt.stepEpochs === undefined) {
      at([...path, 'optimizer', 'schedule'], 'schedule "step" needs "stepEpochs" (the period in epochs, e.g. 10) beside it');
    }
    const onlyFor: Array<['minLearningRate' | 'stepEpochs' | 'gamma', string]> = [['minLearningRate', 'cosine'], ['stepEpochs', 'step'], ['gamma', 'step']];
    for (const [key, owner] of onlyFor) {
      if (opt[key] !== undefined && schedule !== owner) {
        at([...path, 'optimizer', key], `ignored by schedule "${schedule}" (only "${owner}" uses it)`, 'warning');
      }
    }
  }

  // A derived student is built from the teacher's architecture.
  if ('derive' in config.student && (scheme.kind === 'self' || !config.teacher)) {
    at(['student', 'derive'], scheme.kind === 'self'
      ? 'scheme "self" has no teacher to derive the student from: give the student as a "model" or a "module"'
      : 'a derived student needs a teacher to derive it from: add "teacher"');
  } else if ('derive' in config.student) {
    config.student.from = config.teacher;
  }

  // The teacher of a self-distillation is ignored (warned above): leave it out of the config.
  if (scheme.kind === 'self') delete config.teacher;
}

// ---------------------------------------------------------------------------------------------
// Sweep: every key a numeric field of the file, every value valid for that field

/** How many points (runs) `distill sweep` starts without `--yes`. */
export const SWEEP_POINT_LIMIT = 8;

/** `student.derive.width`, `knowledge[0].temperature` or `knowledge.0.temperature` → a JSON path. */
export function parseFieldPath(text: string): JsonPath | undefined {
  const out: JsonPath = [];
  for (const part of text.split('.')) {
    const m = /^([A-Za-z_$][\w$-]*|\d+)?((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === undefined && m[2] === '')) return undefined;
    if (m[1] !== undefined) out.push(/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out.length > 0 ? out : undefined;
}

/** The number of points (runs) of a sweep: the product of its value counts (seeds excluded). */
export function sweepPointCount(sweep: Record<string, number[]> | undefined): number {
  if (!sweep) return 0;
  return Object.entries(sweep).filter(([k]) => k !== 'seeds').reduce((n, [, v]) => n * v.length, 1);
}

/** The union branch a value belongs to: discriminator consts equal, every key known. */
function branchForValue(v: Validator, branches: JsonSchema[], value: unknown): JsonSchema | undefined {
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  return branches.map((b) => v.resolve(b)).find((b) => {
    const props = b.properties ?? {};
    for (const [k, ps] of Object.entries(props)) {
      const c = constOf(v.resolve(ps));
      if (c !== undefined && k in obj && obj[k] !== c) return false;
    }
    return Object.keys(obj).every((k) => k in props) && (b.required ?? []).every((k) => k in obj);
  });
}

/** What a schema describes, for "not numeric" messages. */
function kindOf(v: Validator, s: JsonSchema): string {
  return s.oneOf ? 'an object' : v.expected(s);
}

function checkSweep(root: Node, config: ExperimentConfig, v: Validator, problems: Problem[]): void {
  const sweepNode = propertyValue(root, 'sweep');
  if (!config.sweep || !sweepNode) return;
  const seen = new Map<string, string>();
  for (const prop of sweepNode.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    if (!keyNode || !valueNode) continue;
    const key = keyNode.value as string;
    const at = (message: string): void => {
      problems.push({ path: ['sweep', key], message, offset: keyNode.offset, length: keyNode.length, severity: 'error' });
    };
    if (key === 'seeds') {
      v.check(valueNode, experimentSchema.properties!.seeds, ['sweep', key]);
      continue;
    }
    const path = parseFieldPath(key);
    if (!path) {
      at('expected the path of a numeric field, such as "student.derive.width" or "knowledge[0].temperature"');
      continue;
    }
    const norm = JSON.stringify(path);
    const same = seen.get(norm);
    if (same !== undefined) {
      at(`the same field as "${same}": give each field once`);
      continue;
    }
    seen.set(norm, key);
    const field = fieldSchemaAt(v, config, path);
    if ('error' in field) {
      at(field.error);
      continue;
    }
    (valueNode.children ?? []).forEach((item, i) => v.check(item, field.schema, ['sweep', key, i]));
  }
  problems.push(...v.problems);
}

/**
 * The schema of the numeric field at `path` of the experiment (unions resolved by the file's own
 * values), or why there is none: an unknown field, an item the file does not have, not a number.
 */
export function fieldSchemaAt(v: Validator, config: unknown, path: JsonPath): { schema: JsonSchema } | { error: string } {
  let s: JsonSchema = experimentSchema;
  let value: unknown = config;
  const shown = (n: number): string => JSON.stringify(formatPath(path.slice(0, n)));
  const whole = JSON.stringify(formatPath(path));
  for (let i = 0; i < path.length; i++) {
    s = v.resolve(s);
    if (s.oneOf) {
      const b = branchForValue(v, s.oneOf, value);
      if (!b) return { error: `sweep field ${whole}: ${shown(i)} has no value in the file to pick its kind from` };
      s = b;
    }
    const seg = path[i];
    if (typeof seg === 'number') {
      const items = Array.isArray(value) ? value : undefined;
      if (s.type !== 'array' || !s.items) return { error: `sweep field ${whole}: ${shown(i)} is not a list` };
      if (!items || seg >= items.length) {
        return { error: `sweep field ${whole} does not exist: ${shown(i)} has ${items?.length ?? 0} item${items?.length === 1 ? '' : 's'}` };
      }
      s = s.items;
      value = items[seg];
      continue;
    }
    const objectType = s.type === 'object' || s.properties !== undefined;
    if (!objectType) return { error: `sweep field ${whole}: ${i === 0 ? 'the experiment' : shown(i)} is ${kindOf(v, s)}, it has no field "${seg}"` };
    const props = s.properties ?? {};
    const obj = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
    if (Object.prototype.hasOwnProperty.call(props, seg)) {
      s = props[seg];
    } else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      s = s.additionalProperties;
    } else if (s.additionalProperties === false) {
      const where = i === 0 ? 'the experiment' : shown(i);
      const guess = closest(seg, Object.keys(props));
      return { error: `sweep field ${whole} does not exist: ${where} has no field "${seg}"` +
        (guess ? `; did you mean "${guess}"?` : `; its fields: ${Object.keys(props).map((k) => `"${k}"`).join(', ')}`) };
    } else {
      s = {}; // free-form (e.g. a factory's args): the file's own value decides
    }
    value = obj?.[seg];
  }
  s = v.resolve(s);
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes('number') || types.includes('integer')) return { schema: s };
  if (types.length === 0 && !s.oneOf && !s.enum && s.const === undefined) {
    if (typeof value === 'number') return { schema: { type: 'number' } };
    return { error: `sweep field ${whole}: ${value === undefined ? 'not in the file (a free-form field must be written, as a number, to be swept)' : 'not a number in the file'}` };
  }
  return { error: `sweep field ${whole} is not numeric (it is ${kindOf(v, s)}): a sweep varies numbers` };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isPrimitive(node: Node): boolean {
  return node.type === 'string' || node.type === 'number' || node.type === 'boolean' || node.type === 'null';
}

function propertyValue(node: Node, key: string): Node | undefined {
  let result: Node | undefined;
  for (const prop of node.children ?? []) {
    if (prop.children?.[0]?.value === key) result = prop.children[1];
  }
  return result;
}

function findPath(root: Node, path: JsonPath): JsonPath | undefined {
  let node: Node | undefined = root;
  for (const seg of path) {
    if (!node || node.type !== 'object' || typeof seg !== 'string') return undefined;
    node = propertyValue(node, seg);
  }
  return node ? path : undefined;
}

function constOf(s: JsonSchema): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum && s.enum.length === 1) return s.enum[0];
  return undefined;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function oneOfPhrase(values: unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length === 1 ? shown[0] : `one of ${shown.join(', ')}`;
}

function bounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length > 0 ? ` ${parts.join(' and ')}` : '';
}

function countPhrase(s: JsonSchema): string {
  const { minItems: min, maxItems: max } = s;
  const items = (n: number): string => `${n} item${n === 1 ? '' : 's'}`;
  if (min !== undefined && max !== undefined) return min === max ? items(min) : `${min} to ${max} items`;
  if (max !== undefined) return `at most ${items(max)}`;
  return `at least ${items(min ?? 0)}`;
}

function requiredPhrase(required: string[], joiner = 'with'): string {
  const q = required.map((k) => `"${k}"`);
  return q.length <= 1 ? (q[0] ?? 'nothing') : `${q.slice(0, -1).join(', ')} ${joiner} ${q[q.length - 1]}`;
}

function lastSegment(path: JsonPath): string {
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

/** The known name closest to `name` (ignoring case, `_` and `-`), if it is close enough to be a typo. */
export function closest(name: string, known: string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const n = norm(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(n, norm(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(n.length, best.length) / 3))) return best;
  // A clear abbreviation: "temp" → "temperature", "lr"-style guesses are left alone.
  if (n.length >= 3) {
    const prefixed = known.filter((k) => norm(k).startsWith(n));
    if (prefixed.length === 1) return prefixed[0];
  }
  return undefined;
}

/** Damerau–Levenshtein distance (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
