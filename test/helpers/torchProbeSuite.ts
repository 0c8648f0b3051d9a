/**
 * Set-up shared by the test files that talk to the REAL Python probe process: pick an interpreter
 * with torch (DISTILL_PYTHON, else /usr/bin/python3, else discovery), one thread, and on the way out
 * stop the probe process, restore DISTILL_PYTHON and remove the temporary folder. Without such an
 * interpreter the tests are skipped with the reason printed, unless CI is set (then it fails).
 */
import * as fs from 'node:fs';
import { after, before } from 'node:test';
import { findInterpreter } from '../../src/engine/torch/interpreter';
import { stopTorchProbe } from '../../src/engine/torch/probe';
import { tempDir } from './experiments';

export interface TorchProbeSuite {
  /** The suite's temporary folder. */
  dir: string;
  /** Why the tests are skipped, or false. */
  skip(): string | false;
}

export function torchProbeSuite(name: string, prefix: string): TorchProbeSuite {
  const dir = tempDir(prefix);
  let skip: string | false = false;
  const savedPython = process.env.DISTILL_PYTHON;
  before(async () => {
    try {
      const py = await findInterpreter({ python: process.env.DISTILL_PYTHON ?? '/usr/bin/python3' }).catch(() => findInterpreter({}));
      process.env.DISTILL_PYTHON = py.command;
      process.env.DISTILL_THREADS = '1';
    } catch (e) {
      if (process.env.CI) throw e;
      skip = `no interpreter with torch (${(e as Error).message})`;
      console.log(`${name} tests skipped: ${skip}`);
    }
  });
  after(() => {
    stopTorchProbe();
    if (savedPython === undefined) delete process.env.DISTILL_PYTHON;
    else process.env.DISTILL_PYTHON = savedPython;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, skip: () => skip };
}
