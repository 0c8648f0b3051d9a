/**
 * Resolves the `teacher` / `student` entries of an experiment into Layers models.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { DeriveSpec, ModelSpec, StudentSpec } from '../../config/types';
import { loadLayersModelFromFile, ModelFileError } from './fileIO';
import { buildFromModule } from './moduleLoader';
import { withSeededRandom } from '../training/random';
import { deriveArchitecture, topologyOf } from './derive';
import { DeriveError, modelFromTopology } from './deriveGraph';
import { ExperimentError, locate } from '../../config/errors';
import type { DerivedArchitecture } from './deriveGraph';

/** The validator refuses this first (src/config/engineRules.ts); a guard for callers that skip it. */
const TORCHVISION_ON_TFJS = 'a {"torchvision": …} model runs on the torch engine only: set "engine": "torch"';

/**
 * Builds (module, derived) or loads (model.json) a model; weight initialisation is seeded. A derived
 * student is built from `teacher` (default: the teacher the validator recorded in the spec).
 */
export async function resolveModel(spec: StudentSpec, baseDir: string, seed: number, teacher?: ModelSpec): Promise<tf.LayersModel> {
  if ('derive' in spec) {
    const arch = await deriveStudent(spec, baseDir, teacher);
    return modelFromTopology(arch.topology, seed);
  }
  if ('model' in spec) {
    return loadLayersModelFromFile(path.resolve(baseDir, spec.model));
  }
  if ('torchvision' in spec) throw new Error(TORCHVISION_ON_TFJS);
  return withSeededRandom(seed, () => buildFromModule(path.resolve(baseDir, spec.module), spec.export, spec.args ?? {}));
}

/** The topology of a teacher without loading its weights. */
export async function teacherTopology(spec: ModelSpec, baseDir: string): Promise<Record<string, unknown>> {
  if ('model' in spec) {
    const file = path.resolve(baseDir, spec.model);
    let json: { modelTopology?: Record<string, unknown> };
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof json;
    } catch (e) {
      throw new ModelFileError(`${file}: cannot read the teacher's model.json: ${(e as Error).message}`, file);
    }
    if (!json.modelTopology) throw new ModelFileError(`${file}: no "modelTopology" in the teacher's model.json`, file);
    return json.modelTopology;
  }
  if ('torchvision' in spec) throw new Error(TORCHVISION_ON_TFJS);
  const model = await withSeededRandom(1, () => buildFromModule(path.resolve(baseDir, spec.module), spec.export, spec.args ?? {}));
  try {
    return topologyOf(model);
  } finally {
    model.dispose();
  }
}

/** The derived architecture of a `{ "derive": … }` student (no weights). */
export async function deriveStudent(spec: DeriveSpec, baseDir: string, teacher?: ModelSpec): Promise<DerivedArchitecture> {
  const from = teacher ?? spec.from;
  if (!from) throw new DeriveError('a derived student needs a teacher to derive it from: add "teacher"', ['student', 'derive']);
  return deriveArchitecture(await teacherTopology(from, baseDir), spec.derive);
}

/** A short human description of where a model comes from, e.g. `models.ts#student`. */
export function describeSpec(spec: StudentSpec): string {
  if ('derive' in spec) {
    const d = spec.derive;
    const parts = [`width ${d.width}${d.round > 1 ? ` (round ${d.round})` : ''}`];
    if (d.depth < 1) parts.push(`depth ${d.depth}`);
    if (d.drop?.length) parts.push(`drop ${d.drop.join(', ')}`);
    if (d.swap?.Conv2D) parts.push(`Conv2D→${d.swap.Conv2D}`);
    return `derived from the teacher: ${parts.join(', ')}`;
  }
  if ('torchvision' in spec) return `torchvision:${spec.torchvision}`;
  return 'model' in spec ? spec.model : `${spec.module}#${spec.export}`;
}

/**
 * Writes a derived student's architecture into the run folder (once): `student-architecture/`
 * holds model.json + weights.bin (the initial weights of `seed`, so it loads as it is) and
 * derivation.json (what changed, and why widths were kept). Returns the folder, or undefined when
 * the student is not derived.
 */
export async function writeStudentArchitecture(runDir: string, spec: StudentSpec, baseDir: string, seed: number): Promise<string | undefined> {
  if (!('derive' in spec)) return undefined;
  const dir = path.join(runDir, 'student-architecture');
  if (fs.existsSync(dir)) return dir;
  const arch = await deriveStudent(spec, baseDir);
  const model = await modelFromTopology(arch.topology, seed);
  try {
    const { saveLayersModel } = await import('./fileIO');
    await saveLayersModel(model, dir, {
      'derivation.json': JSON.stringify({ from: spec.from, derive: spec.derive, seed, changes: arch.changes, widths: arch.widths,
        kept: arch.kept, swapped: arch.swapped, dropped: arch.dropped, ...(arch.depth ? { depth: arch.depth } : {}), warnings: arch.warnings }, null, 2),
    });
  } finally {
    model.dispose();
  }
  return dir;
}

/** A DeriveError as a located experiment error (other errors are returned as they are). */
export function locateDeriveError(e: unknown, file: string, text: string): unknown {
  if (!(e instanceof DeriveError)) return e;
  return new ExperimentError([{ file, path: e.path, location: locate(text, e.path), message: e.message, severity: 'error' }]);
}

export { DeriveError };
