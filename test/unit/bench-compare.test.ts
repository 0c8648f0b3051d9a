/** The bench:quality JSON opens in Compare Runs: its entries become the panel's runs, and a restored panel keeps it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareData } from '../../src/host/panels/panelData';
import { validTarget } from '../../src/host/panels/html';
import { isBenchFile, readBenchCompare } from '../../src/host/panels/benchCompare';

function benchFile(dir: string, name = 'quality.json', kind = 'distill-quality-bench'): string {
  const file = path.join(dir, name);
  const run = (id: string, acc: number) => ({
    id, label: `MNIST · ${id}`, loss: { step: [1, 2], value: [2, 1] }, acc: { epoch: [1, 2], value: [acc - 0.01, acc] },
    finals: { 'last-epoch test acc': { mean: acc, std: 0.002, n: 5 } },
  });
  fs.writeFileSync(file, JSON.stringify({
    kind, version: 1,
    compare: {
      title: 'bench:quality — mnist', runs: [run('mnist-scratch', 0.95), run('mnist-kd', 0.96)],
      config: [{ key: 'epochs', values: ['3', '3'], differs: false }, { key: 'method', values: ['"scratch"', '"kd"'], differs: true }],
    },
  }));
  return file;
}

test('Compare Runs data from a bench:quality JSON: every entry with its figures and settings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-compare-'));
  const file = benchFile(dir);
  assert.ok(isBenchFile(file));
  const data = compareData([file], 'quality.json');
  assert.deepEqual(data.runs.map((r) => [r.id, r.finals['last-epoch test acc'].mean]), [['mnist-scratch', 0.95], ['mnist-kd', 0.96]]);
  assert.deepEqual(data.config.find((c) => c.key === 'method'), { key: 'method', values: ['"scratch"', '"kd"'], differs: true });
  // other JSON files are not benchmark results
  const other = path.join(dir, 'other.json');
  fs.writeFileSync(other, JSON.stringify({ kind: 'something-else', compare: { runs: [], config: [] } }));
  assert.equal(readBenchCompare(other), undefined);
  assert.equal(readBenchCompare(path.join(dir, 'missing.json')), undefined);
  assert.equal(isBenchFile(benchFile(dir, 'x.json', 'nope')), false);
});

test('a restored Compare panel keeps a bench file inside the workspace, and refuses one outside or a JSON that is not one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-compare-'));
  const file = benchFile(dir);
  const inside = (p: string) => p.startsWith(dir);
  assert.deepEqual(validTarget({ runDirs: [file], title: 'quality.json' }, inside), { runDirs: [file], experimentFile: undefined, title: 'quality.json' });
  assert.equal(validTarget({ runDirs: [file], title: 'quality.json' }, () => false), undefined);
  assert.equal(validTarget({ runDirs: [benchFile(dir, 'not.json', 'nope')], title: 't' }, inside), undefined);
});
