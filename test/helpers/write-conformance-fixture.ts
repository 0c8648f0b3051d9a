/**
 * Writes the cross-engine conformance fixture (test/fixtures/conformance/losses.json) from the TF.js
 * engine's losses on the wasm backend: `node --import tsx test/helpers/write-conformance-fixture.ts`.
 * test/unit/conformance.test.ts fails when the file is not what this would write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { buildConformanceFixture, FIXTURE_PATH } from './conformance';

async function main(): Promise<void> {
  await initBackend('wasm');
  const fixture = buildConformanceFixture();
  const out = path.resolve(__dirname, '..', '..', FIXTURE_PATH);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(fixture)}\n`);
  process.stdout.write(`${FIXTURE_PATH}: ${fixture.cases.length} cases, methods ${[...new Set(fixture.cases.map((c) => c.method))].join(', ')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
