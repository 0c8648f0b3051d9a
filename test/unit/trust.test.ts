/**
 * Workspace trust, the two halves that do not need VS Code:
 * - the engine's side: an engine started with RESTRICTED_ENV never evaluates a model module (the
 *   module writes a marker when loaded), and says why with the mark the host recognises;
 * - the host's side, as a rule over the source: every file of src/host that starts a process takes
 *   the process's environment from the one gate (`engineEnv`), so a new engine start cannot skip it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModelModule } from '../../src/engine/models/moduleLoader';
import { RESTRICTED_ENV, RESTRICTED_MARK } from '../../src/protocol/engine';
import { REPO, tempDir } from '../helpers/experiments';

test('an engine in Restricted Mode refuses to load a model module; trusted, the same module loads', async () => {
  const dir = tempDir();
  const marker = path.join(dir, 'marker.txt');
  const module = path.join(dir, 'evil.ts');
  fs.writeFileSync(module, `import * as fs from 'fs';\nfs.writeFileSync(${JSON.stringify(marker)}, 'ran');\nexport const answer: number = 42;\n`);
  const before = process.env[RESTRICTED_ENV];
  try {
    process.env[RESTRICTED_ENV] = '1';
    await assert.rejects(loadModelModule(module), (e: Error) => e.message.includes(RESTRICTED_MARK) && e.message.includes('evil.ts'));
    assert.equal(fs.existsSync(marker), false, 'the module never ran');
    delete process.env[RESTRICTED_ENV];
    const exports = await loadModelModule(module);
    assert.equal(exports.answer, 42);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ran');
  } finally {
    if (before === undefined) delete process.env[RESTRICTED_ENV];
    else process.env[RESTRICTED_ENV] = before;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('every process the host starts gets its environment from the trust gate', () => {
  const host = path.join(REPO, 'src', 'host');
  const starts = /\b(?:cp|child_process)\.(fork|spawn|spawnSync|exec|execSync|execFile|execFileSync)\s*\(/g;
  const offenders: string[] = [];
  let seen = 0;
  for (const file of [...tsFiles(host), path.join(REPO, 'src', 'extension.ts')]) {
    const text = fs.readFileSync(file, 'utf8');
    const calls = [...text.matchAll(starts)].length;
    if (/from 'child_process'|require\('child_process'\)/.test(text) && calls === 0) offenders.push(`${path.relative(REPO, file)}: imports child_process in a form this rule cannot see`);
    if (calls === 0) continue;
    seen += calls;
    const gated = [...text.matchAll(/\.engineEnv\(/g)].length;
    if (gated < calls) offenders.push(`${path.relative(REPO, file)}: ${calls} process start(s), ${gated} environment(s) from gate.engineEnv`);
  }
  assert.ok(seen >= 3, `the rule sees the host's engine starts (run manager, probe client, engine check): ${seen}`);
  assert.deepEqual(offenders, []);
});
