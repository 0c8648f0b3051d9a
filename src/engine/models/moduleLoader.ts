/**
 * Models defined in code: a `.ts`/`.js` module in the user's workspace exporting a factory
 * `(tf, args) => tf.LayersModel`. The module is bundled with esbuild (TypeScript transpiled), and
 * its imports of `@tensorflow/tfjs*` resolve to the engine's own TensorFlow.js instance, so the
 * layers it builds live on the engine's backend.
 */
import * as fs from 'fs';
import * as path from 'path';
import Module from 'module';
import * as tf from '@tensorflow/tfjs';

export class ModelModuleError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'ModelModuleError';
  }
}

const cache = new Map<string, { mtimeMs: number; exports: Record<string, unknown> }>();

/** Bundles and evaluates a model module; cached per file and modification time. */
export async function loadModelModule(file: string): Promise<Record<string, unknown>> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new ModelModuleError(`${abs}: model module not found`, abs);
  const mtimeMs = fs.statSync(abs).mtimeMs;
  const hit = cache.get(abs);
  if (hit && hit.mtimeMs === mtimeMs) return hit.exports;

  // esbuild is loaded lazily: only experiments with model modules need it.
  const esbuild = await import('esbuild');
  let code: string;
  try {
    const out = await esbuild.build({
      entryPoints: [abs],
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      external: ['@tensorflow/*'],
      logLevel: 'silent',
    });
    code = out.outputFiles[0].text;
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }).errors;
    const detail = errors?.length
      ? errors.map((er) => `${er.location ? `${er.location.file}:${er.location.line}:${er.location.column + 1}  ` : ''}${er.text}`).join('\n')
      : (e as Error).message;
    throw new ModelModuleError(`${abs}: cannot compile the model module:\n${detail}`, abs);
  }

  const baseRequire = Module.createRequire(abs);
  const localRequire = (id: string): unknown => {
    if (id === '@tensorflow/tfjs' || id === '@tensorflow/tfjs-node' || id === '@tensorflow/tfjs-core'
      || id === '@tensorflow/tfjs-layers') {
      return tf;
    }
    return baseRequire(id);
  };
  const mod = { exports: {} as Record<string, unknown> };
  try {
    const fn = new Function('require', 'module', 'exports', '__filename', '__dirname', code);
    fn(localRequire, mod, mod.exports, abs, path.dirname(abs));
  } catch (e) {
    throw new ModelModuleError(`${abs}: the model module threw while loading: ${(e as Error).message}`, abs);
  }
  cache.set(abs, { mtimeMs, exports: mod.exports });
  return mod.exports;
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
