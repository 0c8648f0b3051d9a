/**
 * The run-folder contract as tests check it: run.json, every line of metrics.jsonl and report.json
 * against the JSON Schemas under schema/ (run, metrics, report). Every engine's run folders are held
 * to these — the TF.js engine's in the engine tests, a second engine's the same way.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { REPO } from './experiments';

let validators: { run: ValidateFunction; metrics: ValidateFunction; report: ValidateFunction } | undefined;

function compile(): NonNullable<typeof validators> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  const load = (name: string) => JSON.parse(fs.readFileSync(path.join(REPO, 'schema', name), 'utf8')) as object;
  return { run: ajv.compile(load('run.schema.json')), metrics: ajv.compile(load('metrics.schema.json')), report: ajv.compile(load('report.schema.json')) };
}

const describe = (v: ValidateFunction) => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`).join('; ');

/** Every way a run folder's files break the schemas (empty when it keeps them); `report` only when the file exists. */
export function runFolderViolations(runDir: string): string[] {
  validators ??= compile();
  const out: string[] = [];
  const run = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as unknown;
  if (!validators.run(run)) out.push(`run.json: ${describe(validators.run)}`);
  const lines = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      // a torn last line (a kill mid-write) is what readers skip; anywhere else it is a violation
      if (i < lines.length - 1) out.push(`metrics.jsonl:${i + 1}: not JSON`);
      return;
    }
    if (!validators!.metrics(record)) out.push(`metrics.jsonl:${i + 1} (${(record as { type?: string }).type}): ${describe(validators!.metrics)}`);
  });
  const reportFile = path.join(runDir, 'report.json');
  if (fs.existsSync(reportFile) && !validators.report(JSON.parse(fs.readFileSync(reportFile, 'utf8')))) out.push(`report.json: ${describe(validators.report)}`);
  return out;
}
