/**
 * Finding the torch engine's Python (src/engine/torch/interpreter.ts): each candidate is run and
 * judged by what it answers — fake interpreters here are small shell scripts that print what a
 * Python would (or fail) — the first with torch ≥ 1.13 is picked and said in a log line, and when
 * none fits the error lists every candidate's answer and the fix. One test uses this machine's real
 * /usr/bin/python3 (Debian's torch) to check the probe script itself.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { candidates, checkCandidate, findInterpreter, NoInterpreterError, PYTHON_FIX, versionAtLeast } from '../../src/engine/torch/interpreter';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-pyfind-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake interpreter: a shell script that answers `-c …` with `body`. */
function fake(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n[ "$1" = "-c" ] || { echo "unexpected: $*" >&2; exit 9; }\n${body}\n`, { mode: 0o755 });
  return file;
}
const answer = (o: Record<string, string>): string => `cat <<'EOF'\n${JSON.stringify(o)}\nEOF`;

const good = fake('good', answer({ python: '3.11.2', executable: '/opt/venv/bin/python', torch: '1.13.0a0+gitunknown', numpy: '1.24.2' }));
const newer = fake('newer', answer({ python: '3.12.1', torch: '2.3.1+cu121' }));
const noTorch = fake('notorch', answer({ python: '3.11.7', error: "ModuleNotFoundError: No module named 'torch'" }));
const oldTorch = fake('oldtorch', answer({ python: '3.8.10', torch: '1.12.1' }));
const broken = fake('broken', 'echo "Fatal Python error: init_fs_encoding" >&2; exit 1');
const notPython = path.join(dir, 'notes.txt');
fs.writeFileSync(notPython, 'not a program', { mode: 0o644 });

test('versions compare by their numeric parts (pre-release and local tags ignored)', () => {
  assert.equal(versionAtLeast('1.13.0a0+gitunknown', '1.13'), true);
  assert.equal(versionAtLeast('1.13', '1.13'), true);
  assert.equal(versionAtLeast('2.0.1', '1.13'), true);
  assert.equal(versionAtLeast('1.12.1', '1.13'), false);
  assert.equal(versionAtLeast('1.9.0', '1.13'), false, '9 < 13 numerically, not as text');
  assert.equal(versionAtLeast('0.4', '1.13'), false);
  assert.equal(versionAtLeast('unknown', '1.13'), false);
});

test('the candidates: the request\'s python alone, else DISTILL_PYTHON alone, else python3, /usr/bin/python3, python', () => {
  assert.deepEqual(candidates('/x/python', { DISTILL_PYTHON: '/y/python' }), [{ command: '/x/python', source: 'request' }]);
  assert.deepEqual(candidates(undefined, { DISTILL_PYTHON: '/y/python' }), [{ command: '/y/python', source: 'DISTILL_PYTHON' }]);
  assert.deepEqual(candidates('  ', {}).map((c) => c.command), ['python3', '/usr/bin/python3', 'python']);
  assert.deepEqual(candidates('venv/bin/python', {}), [{ command: path.resolve('venv/bin/python'), source: 'request' }], 'a relative path is made absolute here');
});

test('each candidate is judged by what it answers', async () => {
  const ok = await checkCandidate(good, 'request');
  assert.ok(ok.ok);
  assert.deepEqual(ok.interpreter, { command: good, executable: '/opt/venv/bin/python', versions: { python: '3.11.2', torch: '1.13.0a0+gitunknown', numpy: '1.24.2' }, source: 'request' });
  const reasons = async (c: string) => {
    const a = await checkCandidate(c, 'default');
    assert.equal(a.ok, false, c);
    return (a as { reason: string }).reason;
  };
  assert.equal(await reasons(noTorch), "Python 3.11.7 without torch (ModuleNotFoundError: No module named 'torch')");
  assert.equal(await reasons(oldTorch), 'Python 3.8.10 with torch 1.12.1, older than 1.13');
  assert.equal(await reasons(path.join(dir, 'missing')), 'not found');
  assert.equal(await reasons(notPython), 'not an executable program');
  assert.equal(await reasons(broken), 'is not a Python that runs the check (Fatal Python error: init_fs_encoding)');
  const slow = fake('slow', 'sleep 5');
  const t0 = Date.now();
  const a = await checkCandidate(slow, 'default', { timeoutMs: 300 });
  assert.deepEqual(a, { ok: false, command: slow, reason: 'gave no answer within 0 s' });
  assert.ok(Date.now() - t0 < 4000, 'the timeout ends the check');
});

test('the first candidate with torch ≥ 1.13 is picked, and a log line says which and why the others were not', async () => {
  const logs: string[] = [];
  const picked = await findInterpreter({ python: newer, log: (m) => logs.push(m) });
  assert.equal(picked.command, newer);
  assert.equal(picked.source, 'request');
  assert.deepEqual(logs, [`python: ${newer} (as configured; Python 3.12.1, torch 2.3.1+cu121)`]);

  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.copyFileSync(noTorch, path.join(bin, 'python3'));
  fs.chmodSync(path.join(bin, 'python3'), 0o755);
  const env = { PATH: `${bin}:/usr/bin:/bin`, DISTILL_PYTHON: '' }; // the fake python3 comes first
  const logs2: string[] = [];
  const found = await findInterpreter({ env, log: (m) => logs2.push(m) });
  // python3 (a fake without torch) is skipped; /usr/bin/python3 is this machine's Debian torch.
  assert.equal(found.command, '/usr/bin/python3');
  assert.equal(found.source, 'default');
  assert.ok(versionAtLeast(found.versions.torch, '1.13'), found.versions.torch);
  assert.equal(logs2.length, 1);
  assert.match(logs2[0], /^python: \S+ \(first with torch; Python 3\.\d+\.\d+, torch \S+\) \(skipped python3: Python 3\.11\.7 without torch/);
});

test('no candidate fits: every answer is listed, then the fix', async () => {
  await assert.rejects(findInterpreter({ env: { DISTILL_PYTHON: oldTorch } }), (e: unknown) => {
    assert.ok(e instanceof NoInterpreterError);
    assert.equal(e.message, `no Python with PyTorch ≥ 1.13 for the torch engine: ${oldTorch}: Python 3.8.10 with torch 1.12.1, older than 1.13; ${PYTHON_FIX}`);
    return true;
  });
  const bin = path.join(dir, 'bin2');
  fs.mkdirSync(bin);
  fs.copyFileSync(noTorch, path.join(bin, 'python'));
  fs.chmodSync(path.join(bin, 'python'), 0o755);
  // /usr/bin/python3 exists here and has torch, so the defaults never all fail on this machine: a request does.
  await assert.rejects(findInterpreter({ python: path.join(bin, 'python') }), /: Python 3\.11\.7 without torch \(ModuleNotFoundError: No module named 'torch'\); set distill\.pythonPath \/ --python to an interpreter with PyTorch ≥ 1\.13$/);
});
