// The experiment schema as contributed to the editor (package.json "jsonValidation"): completion and
// hover only. Our validator (src/config) owns validation and reports each mistake once, located and
// with "did you mean"; VS Code's JSON language service would report the same mistakes a second and a
// third time ("Incorrect type", "Missing property", "Property x is not allowed"). So every keyword
// that can fail is taken out, and what completion needs is kept:
// - properties, descriptions, defaults and examples stay; `enum` becomes `examples` (still proposed);
// - `type` goes (insert text is still guessed from `properties` / `items` / examples); booleans get
//   `examples: [true, false]`;
// - `const` discriminators stay, and every `oneOf` becomes an `anyOf` with an always-valid last
//   branch: a matching branch still narrows completion and hover, a mismatch is never an error.
// Written by esbuild.mjs to dist/experiment.editor.schema.json; checked by test/unit/editorSchema.test.ts.

const FAILING = new Set([
  'type', 'required', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
  'pattern', 'patternErrorMessage', 'minItems', 'maxItems', 'minItemsErrorMessage', 'uniqueItems', 'format',
  'minProperties', 'maxProperties', 'multipleOf', 'not', 'if', 'then', 'else', 'dependencies', 'propertyNames',
  'errorMessage', 'enum', 'markdownEnumDescriptions', 'enumDescriptions', 'oneOf',
]);
/** Keywords whose value is a map of name → schema. */
const MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs']);

export function editorSchema(node) {
  if (Array.isArray(node)) return node.map(editorSchema);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (FAILING.has(k)) continue;
    if (MAPS.has(k)) out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, editorSchema(s)]));
    else if (k === 'additionalProperties' || k === 'items' || k === 'additionalItems') {
      if (typeof v === 'object') out[k] = editorSchema(v); // `false` would reject: dropped
    } else if (k === 'anyOf' || k === 'allOf') out[k] = editorSchema(v);
    else out[k] = v;
  }
  const alternatives = [...(node.oneOf ?? []), ...(node.anyOf ?? [])];
  if (alternatives.length > 0) out.anyOf = [...alternatives.map(editorSchema), {}];
  const examples = [...(Array.isArray(node.examples) ? node.examples : []), ...(Array.isArray(node.enum) ? node.enum : [])];
  if (node.type === 'boolean' && examples.length === 0 && node.default === undefined) examples.push(true, false);
  if (examples.length > 0) out.examples = [...new Map(examples.map((e) => [JSON.stringify(e), e])).values()];
  return out;
}
