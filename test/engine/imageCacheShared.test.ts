/**
 * The image-folder decode cache is one cache for both engines (src/engine/data/images.ts,
 * python/distill_torch/image_cache.py): what TF.js decoded the torch engine reads without reading an
 * image, and the reverse, with the same pixels and labels. Needs a Python with torch and Pillow
 * (DISTILL_PYTHON, else /usr/bin/python3); without one the test is skipped with the reason printed,
 * unless CI is set.
 */
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { imageStats, loadImageFolder } from '../../src/engine/data/images';
import { REPO, tempDir } from '../helpers/experiments';

const PYTHON = process.env.DISTILL_PYTHON ?? '/usr/bin/python3';

/** Two classes of three 6×5 RGB PNGs (pixels from a fixed LCG, so every one differs) in `<dir>/imgs`. */
function makeFolder(dir: string): void {
  let s = 12345;
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648) % 256;
  for (const cls of ['cat', 'dog']) {
    fs.mkdirSync(path.join(dir, 'imgs', cls), { recursive: true });
    for (let k = 0; k < 3; k++) {
      const p = new PNG({ width: 5, height: 6 });
      p.data = Buffer.from(Array.from({ length: 5 * 6 * 4 }, (_, i) => (i % 4 === 3 ? 255 : next())));
      fs.writeFileSync(path.join(dir, 'imgs', cls, `${k}.png`), PNG.sync.write(p, { colorType: 2 }));
    }
  }
}

const SETTINGS = { channels: 3 as const, size: [4, 3] as [number, number] };

function tfjsLoad(dir: string, cacheRoot = dir): ReturnType<typeof loadImageFolder> {
  return loadImageFolder({ field: 'data.train', dir: path.join(dir, 'imgs'), ...SETTINGS, cacheRoot, memoryBytes: 1 << 20 });
}

interface TorchLoad { x: number[]; y: number[]; notes: string[]; stats: { decoded: number; files_read: number } }

/** The torch engine's data.train of the same folder and settings, x channels-last as TF.js holds it. */
function torchLoad(dir: string): TorchLoad {
  const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(path.join(REPO, 'python'))})
from distill_torch import data as D, image_cache as IC
src = {'format': 'images', 'path': 'imgs', 'channels': ${SETTINGS.channels}, 'size': ${JSON.stringify(SETTINGS.size)}}
p = D.load_data({'data': {'train': src, 'test': src, 'normalize': 'none'}}, ${JSON.stringify(dir)})
print(json.dumps({'x': p.train.x.permute(0, 2, 3, 1).reshape(-1).tolist(), 'y': p.train.y.tolist(), 'notes': p.notes, 'stats': IC.stats}))
`;
  const r = cp.spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`${PYTHON}: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchLoad;
}

function skipReason(): string | false {
  const r = cp.spawnSync(PYTHON, ['-c', 'import torch, PIL'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const why = `${PYTHON} cannot import torch and PIL (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  if (process.env.CI) throw new Error(why);
  console.log(`imageCacheShared skipped: ${why}`);
  return why;
}

test('TF.js decodes, torch reads the cache (no image read); torch decodes, TF.js reads it; the same pixels', (t) => {
  const skip = skipReason();
  if (skip) return t.skip(skip);
  const root = tempDir('distill-imgcache-');
  try {
    // TF.js writes, torch reads
    const a = path.join(root, 'a');
    makeFolder(a);
    const tf = tfjsLoad(a);
    assert.match(tf.note!, /decoded in .* into \.distill\/cache\/images/);
    const torch = torchLoad(a);
    assert.deepEqual(torch.stats, { decoded: 0, files_read: 0 }, 'torch decoded no image and read no file (the memo of content hashes is shared too)');
    assert.match(torch.notes[0], /^data\.train: 6 images of imgs found in the decode cache in \d+\.\d\d s \(\d+ images\/s; no image read\)$/);
    assert.deepEqual(torch.y, Array.from(tf.y));
    assert.deepEqual(torch.x, Array.from(tf.x));

    // torch writes, TF.js reads
    const b = path.join(root, 'b');
    makeFolder(b);
    const first = torchLoad(b);
    assert.equal(first.stats.decoded, 6);
    assert.match(first.notes[0], /decoded in .* into \.distill\/cache\/images$/);
    const before = { ...imageStats };
    const tf2 = tfjsLoad(b);
    assert.deepEqual(imageStats, before, 'TF.js decoded no image and read no file');
    assert.match(tf2.note!, /found in the decode cache .*no image read/);
    assert.deepEqual(Array.from(tf2.x), first.x);
    assert.deepEqual(Array.from(tf2.y), first.y);
    // and those pixels are TF.js's own decode of the folder (a cache elsewhere: decoded afresh)
    const own = tfjsLoad(b, path.join(root, 'elsewhere'));
    assert.match(own.note!, /decoded in/);
    assert.deepEqual(Array.from(own.x), first.x);
    // the two engines left one entry each (the same file names: key.u8, key.json, the folder's index)
    const names = (d: string) => fs.readdirSync(path.join(d, '.distill', 'cache', 'images')).filter((n) => !n.startsWith('index-')).length;
    assert.equal(names(a), 2);
    assert.equal(names(b), 2);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
