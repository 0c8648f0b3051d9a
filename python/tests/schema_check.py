"""A draft-07 JSON Schema validator, the subset schema/*.schema.json use (jsonschema is not
installed here): type, required, properties, additionalProperties, enum, const, pattern,
minLength, minimum, maximum, items, oneOf, allOf, $ref to #/definitions, format date-time.
An unknown keyword is an error, so a schema that grows past this subset fails loudly instead of
passing unchecked."""
from __future__ import annotations

import json
import os
import re
from typing import Any, List

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
KNOWN = {'$schema', '$id', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties',
         'enum', 'const', 'pattern', 'minLength', 'minimum', 'maximum', 'items', 'oneOf', 'allOf', '$ref',
         'definitions', 'format', 'default', 'examples'}
DATE_TIME = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$')


def load_schema(name: str) -> dict:
    with open(os.path.join(ROOT, 'schema', name), encoding='utf8') as f:
        return json.load(f)


def _type_ok(v: Any, t: str) -> bool:
    if t == 'object':
        return isinstance(v, dict)
    if t == 'array':
        return isinstance(v, list)
    if t == 'string':
        return isinstance(v, str)
    if t == 'integer':
        return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())
    if t == 'number':
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == 'boolean':
        return isinstance(v, bool)
    if t == 'null':
        return v is None
    raise ValueError(f'unknown type {t}')


def errors(value: Any, schema: dict, root: dict = None, path: str = '$') -> List[str]:
    """Every violation of `schema` by `value`, as 'path: what'."""
    root = root if root is not None else schema
    out: List[str] = []
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f'schema keyword(s) outside the subset: {sorted(unknown)}')
    if '$ref' in schema:
        ref = schema['$ref']
        if not ref.startswith('#/definitions/'):
            raise ValueError(f'unsupported $ref {ref}')
        out += errors(value, root['definitions'][ref[len('#/definitions/'):]], root, path)
    if 'type' in schema:
        types = schema['type'] if isinstance(schema['type'], list) else [schema['type']]
        if not any(_type_ok(value, t) for t in types):
            return out + [f'{path}: expected {"/".join(types)}, found {json.dumps(value)[:80]}']
    if 'const' in schema and value != schema['const']:
        out.append(f'{path}: expected {schema["const"]!r}, found {value!r}')
    if 'enum' in schema and value not in schema['enum']:
        out.append(f'{path}: expected one of {schema["enum"]}, found {value!r}')
    if isinstance(value, str):
        if 'pattern' in schema and not re.search(schema['pattern'], value):
            out.append(f'{path}: {value!r} does not match {schema["pattern"]}')
        if 'minLength' in schema and len(value) < schema['minLength']:
            out.append(f'{path}: shorter than {schema["minLength"]}')
        if schema.get('format') == 'date-time' and not DATE_TIME.match(value):
            out.append(f'{path}: {value!r} is not a date-time')
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 'minimum' in schema and value < schema['minimum']:
            out.append(f'{path}: {value} < {schema["minimum"]}')
        if 'maximum' in schema and value > schema['maximum']:
            out.append(f'{path}: {value} > {schema["maximum"]}')
    if isinstance(value, dict):
        for k in schema.get('required', []):
            if k not in value:
                out.append(f'{path}: missing {k}')
        props = schema.get('properties', {})
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], root, f'{path}.{k}')
            elif 'additionalProperties' in schema:
                ap = schema['additionalProperties']
                if ap is False:
                    out.append(f'{path}: unexpected property {k}')
                elif isinstance(ap, dict):
                    out += errors(v, ap, root, f'{path}.{k}')
    if isinstance(value, list) and 'items' in schema:
        for i, v in enumerate(value):
            out += errors(v, schema['items'], root, f'{path}[{i}]')
    for sub in schema.get('allOf', []):
        out += errors(value, sub, root, path)
    if 'oneOf' in schema:
        passing = [i for i, sub in enumerate(schema['oneOf']) if not errors(value, sub, root, path)]
        if len(passing) != 1:
            out.append(f'{path}: matches {len(passing)} of the oneOf alternatives (expected exactly 1)')
    return out


def check(value: Any, schema_name: str) -> None:
    """Raises AssertionError listing the violations of schema/<schema_name>."""
    errs = errors(value, load_schema(schema_name))
    assert not errs, f'{schema_name}: ' + '; '.join(errs[:10])
