/**
 * Compute backend selection for the engine.
 *
 * The engine imports `@tensorflow/tfjs` everywhere; this module decides which tfjs backend runs it:
 *   tensorflow  @tensorflow/tfjs-node (optional dependency: native libtensorflow, fastest)
 *   wasm        @tensorflow/tfjs-backend-wasm + the project's kernels (./wasm)
 *   cpu         the pure-JS backend bundled with tfjs (slow, always there)
 * `auto` takes the first that loads, in that order. Naming one forces it, or fails with an Error.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../../config/types';
import { registerWasmKernels } from './wasm/register';
import { registerCpuKernels } from './cpu/register';

export { registerWasmKernels } from './wasm/register';
export { registerCpuKernels } from './cpu/register';
export { FusedAdamOptimizer } from './wasm/adam';

export interface BackendInfo {
  name: 'tensorflow' | 'wasm' | 'cpu';
  versions: Record<string, string>;
  /** why this one (e.g. "tfjs-node not installed: Cannot find module ...") */
  notes: string[];
  /** kernels the project registered */
  customKernels: string[];
  simd?: boolean;
}

type Concrete = BackendInfo['name'];

const TFJS_NODE = '@tensorflow/tfjs-node';
const TFJS_WASM = '@tensorflow/tfjs-backend-wasm';

interface WasmModule {
  setWasmPaths(prefixOrFileMap: string | Record<string, string>, usePlatformFetch?: boolean): void;
  version_wasm: string;
}

// The cpu fixes go in as soon as the engine's backend module loads: tfjs runs on its cpu backend
// by default, before (or without) any initBackend call.
registerCpuKernels();

let chain: Promise<unknown> = Promise.resolve();
let current: { requested: BackendName; info: BackendInfo } | undefined;

/**
 * Selects (and initialises) the tfjs backend. Idempotent: calling again with the same request
 * returns the same info without re-initialising; a different request switches backends.
 * Concurrent calls are serialised.
 */
export function initBackend(requested: BackendName = 'auto'): Promise<BackendInfo> {
  const run = chain.then(() => init(requested));
  chain = run.catch(() => undefined);
  return run;
}

async function init(requested: BackendName): Promise<BackendInfo> {
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(requested)) {
    throw new Error(`unknown backend '${String(requested)}' (expected auto, tensorflow, wasm or cpu)`);
  }
  registerCpuKernels();
  if (current && current.requested === requested && tf.getBackend() === current.info.name) {
    return cloneInfo(current.info);
  }
  const notes: string[] = [];
  const order: Concrete[] = requested === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [requested];
  for (const name of order) {
    const attempt = await tryBackend(name, notes);
    if (attempt.ok) {
      const info: BackendInfo = { name, versions: versions(name), notes, customKernels: attempt.customKernels };
      if (attempt.simd !== undefined) info.simd = attempt.simd;
      if (requested === 'auto') notes.push(`selected '${name}' (auto: tensorflow → wasm → cpu)`);
      else notes.push(`selected '${name}' (requested)`);
      current = { requested, info };
      return cloneInfo(info);
    }
    if (requested !== 'auto') throw new Error(attempt.error);
    notes.push(attempt.note);
  }
  // cpu ships with @tensorflow/tfjs; reaching this means even it failed.
  throw new Error(`no tfjs backend could be initialised: ${notes.join('; ')}`);
}

type Attempt =
  | { ok: true; customKernels: string[]; simd?: boolean }
  | { ok: false; note: string; error: string };

async function tryBackend(name: Concrete, notes: string[]): Promise<Attempt> {
  switch (name) {
    case 'tensorflow':
      return tryTensorflow();
    case 'wasm':
      return tryWasm(notes);
    case 'cpu': {
      const customKernels = registerCpuKernels();
      const ok = await setBackendSafe('cpu');
      return ok === true
        ? { ok: true, customKernels }
        : { ok: false, note: `cpu backend failed: ${ok}`, error: `backend 'cpu' could not be initialised: ${ok}` };
    }
  }
}

async function tryTensorflow(): Promise<Attempt> {
  try {
    // Registers backend 'tensorflow' into the same tfjs-core the engine uses.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(TFJS_NODE);
  } catch (e) {
    const msg = firstLine(e);
    const missing = isModuleNotFound(e, TFJS_NODE);
    return {
      ok: false,
      note: missing ? `tfjs-node not installed: ${msg}` : `tfjs-node failed to load: ${msg}`,
      error: missing
        ? `backend 'tensorflow' requested but ${TFJS_NODE} is not installed: ${msg}`
        : `backend 'tensorflow' requested but ${TFJS_NODE} failed to load: ${msg}`,
    };
  }
  if (!tf.findBackendFactory('tensorflow')) {
    const msg = `${TFJS_NODE} loaded but registered no 'tensorflow' backend (two copies of @tensorflow/tfjs-core?)`;
    return { ok: false, note: msg, error: `backend 'tensorflow' requested but ${msg}` };
  }
  const ok = await setBackendSafe('tensorflow');
  if (ok !== true) {
    return { ok: false, note: `tfjs-node backend failed to initialise: ${ok}`, error: `backend 'tensorflow' requested but it failed to initialise: ${ok}` };
  }
  return { ok: true, customKernels: [] };
}

async function tryWasm(notes: string[]): Promise<Attempt> {
  let wasm: WasmModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    wasm = require(TFJS_WASM) as WasmModule;
  } catch (e) {
    const msg = firstLine(e);
    const missing = isModuleNotFound(e, TFJS_WASM);
    return {
      ok: false,
      note: `${TFJS_WASM} ${missing ? 'not installed' : 'failed to load'}: ${msg}`,
      error: `backend 'wasm' requested but ${TFJS_WASM} ${missing ? 'is not installed' : 'failed to load'}: ${msg}`,
    };
  }
  const dir = wasmBinaryDir();
  if (dir && !wasmInitialised()) {
    try {
      // Point the loader at the package's own .wasm files (a bundle's __dirname is not the package's).
      wasm.setWasmPaths(dir + path.sep);
    } catch (e) {
      notes.push(`setWasmPaths failed (using the default location): ${firstLine(e)}`);
    }
  }
  let customKernels: string[];
  try {
    customKernels = registerWasmKernels({ speed: process.env.DISTILL_WASM_STOCK !== '1' });
  } catch (e) {
    const msg = firstLine(e);
    return { ok: false, note: `wasm kernels could not be registered: ${msg}`, error: `backend 'wasm' requested but its kernels could not be registered: ${msg}` };
  }
  if (process.env.DISTILL_WASM_STOCK === '1') notes.push('DISTILL_WASM_STOCK=1: stock wasm kernels kept (only missing ones added)');
  const ok = await setBackendSafe('wasm');
  if (ok !== true) {
    return { ok: false, note: `wasm backend failed to initialise: ${ok}`, error: `backend 'wasm' requested but it failed to initialise: ${ok}` };
  }
  let simd: boolean | undefined;
  try {
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  } catch {
    simd = undefined;
  }
  return { ok: true, customKernels, simd };
}

/** tf.setBackend without throwing: true, or the reason it failed. */
async function setBackendSafe(name: string): Promise<true | string> {
  try {
    if (tf.getBackend() === name) return true;
    const ok = await tf.setBackend(name);
    if (!ok) return `tf.setBackend('${name}') returned false`;
    await tf.ready();
    return tf.getBackend() === name ? true : `active backend is '${tf.getBackend()}'`;
  } catch (e) {
    return firstLine(e);
  }
}

function wasmInitialised(): boolean {
  try {
    return Boolean(tf.engine().registry['wasm']);
  } catch {
    return false;
  }
}

/** The folder holding tfjs-backend-wasm's .wasm binaries, or undefined outside Node / if not found. */
function wasmBinaryDir(): string | undefined {
  try {
    const dir = path.dirname(require.resolve(TFJS_WASM));
    return fs.existsSync(path.join(dir, 'tfjs-backend-wasm.wasm')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function versions(name: Concrete): Record<string, string> {
  const v: Record<string, string> = {
    'tfjs-core': tf.version_core,
    'tfjs-layers': tf.version_layers,
  };
  try {
    if (name === 'wasm') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      v['tfjs-backend-wasm'] = (require(TFJS_WASM) as WasmModule).version_wasm;
    } else if (name === 'cpu') {
      v['tfjs-backend-cpu'] = tf.version_cpu;
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const node = require(TFJS_NODE) as { version?: Record<string, string> | string };
      if (typeof node.version === 'string') v['tfjs-node'] = node.version;
      else if (node.version) Object.assign(v, node.version);
    }
  } catch {
    // versions are informative only
  }
  return v;
}

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'MODULE_NOT_FOUND' && typeof err.message === 'string' && err.message.includes(pkg);
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return msg.split('\n')[0].trim();
}

function cloneInfo(info: BackendInfo): BackendInfo {
  return { ...info, versions: { ...info.versions }, notes: [...info.notes], customKernels: [...info.customKernels] };
}
