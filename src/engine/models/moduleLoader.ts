/**
 * Models defined in code: a `.ts`/`.js` module in the user's workspace exporting a factory
 * `(tf, args) => tf.LayersModel`. Each file is transpiled with sucrase (pure JavaScript, so the
 * packaged extension stays platform-neutral: TypeScript types stripped, ES modules turned into
 * CommonJS) and evaluated by a small CommonJS loader: relative imports load the workspace's other
 * `.ts`/`.js` files the same way, imports of `@tensorflow/tfjs*` resolve to the engine's own
 * TensorFlow.js instance (so the layers it builds live on the engine's backend), and any other
 * package comes from the workspace's node_modules.
 */
import * as fs from 'fs';
import * as path from 'path';
import Module from 'module';
import * as tf from '@tensorflow/tfjs';
import { transform } from 'sucrase';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../protocol/engine';

export class ModelModuleError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'ModelModuleError';
  }
}

/** Modules of the engine's TensorFlow.js instance. */
const TF_IDS = new Set(['@tensorflow/tfjs', '@tensorflow/tfjs-node', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers']);
/** Extensions tried, in order, for a relative import without one (and for `<dir>/index`). */
const EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.json'];

interface LoadedModule { exports: Record<string, unknown> }

const cache = new Map<string, { mtimes: Map<string, number>; exports: Record<string, unknown> }>();

/** Transpiles and evaluates a model module and its relative imports; cached per file and modification times. */
export async function loadModelModule(file: string): Promise<Record<string, unknown>> {
  const abs = path.resolve(file);
  // the host started this engine for an untrusted workspace: its code is never run
  if (process.env[RESTRICTED_ENV] === '1') {
    throw new ModelModuleError(`${path.basename(abs)} is code from the workspace, and the workspace is not trusted ${RESTRICTED_MARK}`, abs);
  }
  if (!fs.existsSync(abs)) throw new ModelModuleError(`${abs}: model module not found`, abs);
  const hit = cache.get(abs);
  if (hit && [...hit.mtimes].every(([f, m]) => mtime(f) === m)) return hit.exports;

  const loaded = new Map<string, LoadedModule>();
  const exports = loadFile(abs, loaded, abs);
  cache.set(abs, { mtimes: new Map([...loaded.keys()].map((f) => [f, mtime(f)])), exports });
  return exports;
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Loads one file of the module graph (CommonJS semantics: a cycle sees the partial exports). */
function loadFile(abs: string, loaded: Map<string, LoadedModule>, entry: string): Record<string, unknown> {
  const seen = loaded.get(abs);
  if (seen) return seen.exports;
  const mod: LoadedModule = { exports: {} };
  loaded.set(abs, mod);
  const source = fs.readFileSync(abs, 'utf8');
  if (abs.endsWith('.json')) {
    mod.exports = JSON.parse(source) as Record<string, unknown>;
    return mod.exports;
  }
  const code = transpile(abs, source, entry);
  const baseRequire = Module.createRequire(abs);
  const localRequire = (id: string): unknown => {
    if (TF_IDS.has(id)) return tf;
    if (id.startsWith('./') || id.startsWith('../') || id === '.' || id === '..' || path.isAbsolute(id)) {
      const target = resolveLocal(path.resolve(path.dirname(abs), id));
      if (!target) throw new ModelModuleError(`${abs}: cannot resolve the import "${id}"`, entry);
      return loadFile(target, loaded, entry);
    }
    return baseRequire(id);
  };
  try {
    const fn = new Function('require', 'module', 'exports', '__filename', '__dirname', code) as
      (r: typeof localRequire, m: LoadedModule, e: Record<string, unknown>, f: string, d: string) => void;
    fn(localRequire, mod, mod.exports, abs, path.dirname(abs));
  } catch (e) {
    if (e instanceof ModelModuleError) throw e;
    const where = abs === entry ? '' : ` (in ${abs})`;
    throw new ModelModuleError(`${entry}: the model module threw while loading${where}: ${(e as Error).message}`, entry);
  }
  return mod.exports;
}

/** The file a relative import names: as written, with an extension added, or `<dir>/index.*`. */
function resolveLocal(base: string): string | undefined {
  const isFile = (f: string): boolean => {
    try {
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (isFile(base)) return base;
  // `./layers.js` written for a `layers.ts` file (TypeScript's node16 style)
  const stem = base.replace(/\.(m|c)?js$/, '');
  for (const candidate of [...EXTENSIONS.map((x) => stem + x), ...EXTENSIONS.map((x) => path.join(base, 'index' + x))]) {
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

/** TypeScript / ES module source → CommonJS; a syntax error becomes `file:line:column  message`. */
function transpile(abs: string, source: string, entry: string): string {
  const typescript = /\.(m|c)?tsx?$/.test(abs);
  try {
    return transform(source, {
      transforms: typescript ? ['typescript', 'imports'] : ['imports'],
      filePath: abs,
      disableESTransforms: true,
      production: true,
    }).code;
  } catch (e) {
    const pos = (e as { pos?: number }).pos;
    const message = (e as Error).message.replace(/^Error transforming [^:]*: /, '').replace(/ \(\d+:\d+\)$/, '');
    let detail = message;
    if (typeof pos === 'number') {
      const before = source.slice(0, pos);
      const line = before.split('\n').length;
      const column = pos - before.lastIndexOf('\n');
      detail = `${abs}:${line}:${column}  ${message}`;
    }
    throw new ModelModuleError(`${entry}: cannot compile the model module:\n${detail}`, entry);
  }
}

/** Calls the named factory of a model module and checks that it returned a Layers model. */
export async function buildFromModule(file: string, exportName: string, args: Record<string, unknown> = {}): Promise<tf.LayersModel> {
  const exports = await loadModelModule(file);
  const factory = exports[exportName];
  if (typeof factory !== 'function') {
    const names = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
    throw new ModelModuleError(
      `${path.resolve(file)}: export "${exportName}": expected a function (tf, args) => tf.LayersModel, ` +
      (factory === undefined ? `found no such export (functions exported: ${names.join(', ') || 'none'})` : `found ${typeof factory}`),
      file);
  }
  let model: unknown;
  try {
    model = await (factory as (t: typeof tf, a: Record<string, unknown>) => unknown)(tf, args);
  } catch (e) {
    throw new ModelModuleError(`${path.resolve(file)}: export "${exportName}" threw: ${(e as Error).message}`, file);
  }
  if (!(model instanceof tf.LayersModel)) {
    throw new ModelModuleError(
      `${path.resolve(file)}: export "${exportName}": expected the factory to return a tf.LayersModel (tf.sequential() or tf.model()), found ${model === null ? 'null' : typeof model}`,
      file);
  }
  return model;
}
