/**
 * What `distill run` (and the extension's Run) does before it creates a run folder: the checks of
 * `distill check` — data readable and consistent, models load and fit it, layer pairs resolve — so
 * that bad input is refused with the same located message and leaves nothing on disk.
 */
import type { BackendName, ExperimentConfig } from '../config/types';
import { ExperimentError } from '../config/parse';
import { initBackend } from './backend';
import { checkDataAndModels } from './check';
import type { PreparedData } from './data';

/** Returns the prepared data; throws ExperimentError (located) for a data or model problem. */
export async function preflightRun(experimentFile: string, text: string, config: ExperimentConfig, backend: BackendName): Promise<PreparedData> {
  await initBackend(backend); // a backend that cannot start is its own error, not a problem of the models
  const { errors, data } = await checkDataAndModels(experimentFile, text, config, backend);
  if (errors.length || !data) throw new ExperimentError(errors);
  return data;
}
