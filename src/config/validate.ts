/**
 * Validates a parsed experiment file and produces the typed config or located errors, in five
 * steps, each its own module: the schema interpreter (schema.ts: `schema/experiment.schema.json`,
 * one clear message per problem), the semantic rules (rules.ts, pure), what the chosen engine can
 * do (engineRules.ts: tfjs or torch), the sweep's fields and values
 * (sweep.ts), and normalisation (normalize.ts: what the rules imply, filled in once the file is valid).
 */
import type { Node } from 'jsonc-parser';
import { LineIndex } from './errors';
import { normalize } from './normalize';
import { checkTeacherPresent, semanticChecks } from './rules';
import { engineChecks } from './engineRules';
import { experimentSchema, Validator } from './schema';
import type { Problem } from './schema';
import { checkSweep } from './sweep';
import type { ConfigError, ExperimentConfig } from './types';

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
    engineChecks(root, value as ExperimentConfig, v.problems);
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
  return { config: ok ? normalize(value as ExperimentConfig) : undefined, errors };
}
