/**
 * The rules of adversarial knowledge entries that need no models (issue 18): where the term cannot
 * apply — schemes `online` and `self` use no knowledge entries (the peers and heads learn through
 * their own losses), so a discriminator would have no fixed teacher's outputs to tell the
 * student's from — and fields that do nothing. At most one pair is the schema's `maxItems`; a
 * pair's layers, shapes and adapter are the engine's checks against the models, with fitnet's
 * rules (src/engine/knowledge/pairs.ts through the catalogue entry's shape rules).
 */
import type { JsonPath } from '../errors';
import type { ExperimentConfig } from '../types';

type At = (path: JsonPath, message: string, severity?: 'error' | 'warning') => void;

export function adversarialChecks(config: ExperimentConfig, at: At): void {
  const scheme = config.scheme.kind;
  config.knowledge.forEach((k, i) => {
    if (k.kind !== 'adversarial') return;
    const here: JsonPath = ['knowledge', i];
    if (scheme === 'online' || scheme === 'self') {
      at(here, scheme === 'online'
        ? 'adversarial: scheme "online" trains the teacher together with the students and uses no knowledge entries, so the discriminator has no fixed teacher outputs to tell the student\'s from; use scheme "offline", "born-again" or "ta-chain"'
        : 'adversarial: scheme "self" has no teacher, so the discriminator has no teacher outputs to tell the student\'s from; use scheme "offline", "born-again" or "ta-chain"');
    }
    if ((k.pairs?.length ?? 0) > 0 && k.temperature !== 1) {
      at([...here, 'temperature'], 'adversarial: with a pair, D sees that layer\'s features, not the softened logits, so "temperature" is not used', 'warning');
    }
  });
}
