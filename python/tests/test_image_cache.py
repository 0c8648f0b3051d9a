"""image_cache.py: the image-folder decode cache shared with the TF.js engine (images.ts) — the key
against a hand-written JSON string, a second load that reads no image, and entries that are
partial, corrupt or disagree with the folder ignored and rebuilt (never trusted)."""
import hashlib
import json
import os
import time

import numpy as np
import pytest

from distill_torch import data as D
from distill_torch import image_cache as IC

Image = pytest.importorskip('PIL.Image')


def make_folder(root, n_per_class=3, size=(5, 4)):
    """Two classes of small RGB PNGs, every pixel different (so a wrong order or offset shows)."""
    rng = np.random.default_rng(7)
    for cls in ('cat', 'dog'):
        os.makedirs(root / 'imgs' / cls, exist_ok=True)
        for k in range(n_per_class):
            arr = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
            Image.fromarray(arr, 'RGB').save(root / 'imgs' / cls / f'{k}.png')


def load(root, **src):
    return D.load_data({'data': {'train': {'format': 'images', 'path': 'imgs', **src}, 'test': {'format': 'images', 'path': 'imgs', **src},
                                 'normalize': 'none'}}, str(root))


def entries(root):
    d = root / '.distill' / 'cache' / 'images'
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def counts():
    return dict(IC.stats)


def test_key_is_images_ts_key():
    # JSON.stringify({v: 1, size: null, channels: 3, files: [[0, "cat/0.png", "ab"], [1, "dög/1.png", "cd"]]})
    text = '{"v":1,"size":null,"channels":3,"files":[[0,"cat/0.png","ab"],[1,"dög/1.png","cd"]]}'
    assert IC.cache_key(None, 3, [(0, 'cat/0.png', 'ab'), (1, 'dög/1.png', 'cd')]) == hashlib.sha256(text.encode('utf-8')).hexdigest()
    text = '{"v":1,"size":[6,8],"channels":1,"files":[[2,"x/y.jpg","ef"]]}'
    assert IC.cache_key([6, 8], 1, [(2, 'x/y.jpg', 'ef')]) == hashlib.sha256(text.encode('utf-8')).hexdigest()


def test_mtime_ms_is_nodes_arithmetic(tmp_path):
    f = tmp_path / 'a'
    f.write_bytes(b'x')
    os.utime(f, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    assert IC.mtime_ms(os.stat(f)) == 1_700_000_000 * 1000.0 + 123_456_789 / 1e6


def test_second_load_reads_no_image_and_gives_the_same_pixels(tmp_path):
    make_folder(tmp_path)
    before = counts()
    p1 = load(tmp_path)
    mid = counts()
    # train and test are the same folder: decoded once (the test split finds the train split's entry)
    assert mid['decoded'] - before['decoded'] == 6
    assert p1.notes[0].startswith('data.train: 6 images of imgs decoded in ') and p1.notes[0].endswith('into .distill/cache/images')
    assert 'found in the decode cache' in p1.notes[1]
    names = entries(tmp_path)
    keys = [n[:-3] for n in names if n.endswith('.u8')]
    assert len(keys) == 1 and f'{keys[0]}.json' in names and any(n.startswith('index-') for n in names)
    assert not [n for n in names if '.tmp-' in n]
    p2 = load(tmp_path)
    after = counts()
    assert after == mid, 'no image decoded, no file read (content hashes remembered by size and mtime)'
    assert p2.notes[0].startswith('data.train: 6 images of imgs found in the decode cache in ') and p2.notes[0].endswith('; no image read)')
    assert np.array_equal(p1.train.x.numpy(), p2.train.x.numpy()) and p1.train.y.tolist() == p2.train.y.tolist()
    # against the pixels themselves: sample 1 is dog/0.png (round-robin), channels first
    want = np.asarray(Image.open(tmp_path / 'imgs' / 'dog' / '0.png').convert('RGB'), dtype=np.float32).transpose(2, 0, 1)
    assert np.array_equal(p2.train.x[1].numpy(), want)
    # the header, as images.ts writes it
    header = json.loads((tmp_path / '.distill' / 'cache' / 'images' / f'{keys[0]}.json').read_text())
    assert header == {'version': 1, 'folder': str(tmp_path / 'imgs'), 'shape': [5, 4, 3], 'size': 6, 'classNames': ['cat', 'dog'],
                      'labels': [0, 1, 0, 1, 0, 1], 'files': ['cat/0.png', 'dog/0.png', 'cat/1.png', 'dog/1.png', 'cat/2.png', 'dog/2.png']}
    # other settings are other entries
    load(tmp_path, channels=1)
    assert len([n for n in entries(tmp_path) if n.endswith('.u8')]) == 2


def test_a_changed_image_is_decoded_again(tmp_path):
    make_folder(tmp_path)
    p1 = load(tmp_path)
    f = tmp_path / 'imgs' / 'cat' / '1.png'
    Image.fromarray(np.full((5, 4, 3), 9, np.uint8), 'RGB').save(f)
    os.utime(f, ns=(time.time_ns() + 5_000_000_000,) * 2)
    before = counts()
    p2 = load(tmp_path)
    assert counts()['decoded'] - before['decoded'] == 6
    assert float(p2.train.x[2].max()) == 9 and not np.array_equal(p1.train.x.numpy(), p2.train.x.numpy())


@pytest.mark.parametrize('damage', ['truncated pixels', 'no pixels', 'garbage header', 'half a header', 'wrong labels', 'wrong channels', 'wrong files', 'wrong version'])
def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path, damage):
    make_folder(tmp_path)
    good = load(tmp_path).train.x.numpy()
    d = tmp_path / '.distill' / 'cache' / 'images'
    key = [n[:-3] for n in os.listdir(d) if n.endswith('.u8')][0]
    u8, hj = d / f'{key}.u8', d / f'{key}.json'
    header = json.loads(hj.read_text())
    if damage == 'truncated pixels':
        u8.write_bytes(u8.read_bytes()[:-7])
    elif damage == 'no pixels':
        u8.unlink()
    elif damage == 'garbage header':
        hj.write_bytes(b'\x00\xffnot json')
    elif damage == 'half a header':
        hj.write_text(hj.read_text()[: len(hj.read_text()) // 2])
    elif damage == 'wrong labels':
        hj.write_text(json.dumps({**header, 'labels': [1, 0, 1, 0, 1, 0]}))
    elif damage == 'wrong channels':
        hj.write_text(json.dumps({**header, 'shape': [5, 12, 1]}))  # the same byte count, another layout
    elif damage == 'wrong files':
        hj.write_text(json.dumps({**header, 'files': header['files'][::-1]}))
    elif damage == 'wrong version':
        hj.write_text(json.dumps({**header, 'version': 2}))
    before = counts()
    p = load(tmp_path)
    assert counts()['decoded'] - before['decoded'] == 6, 'decoded again, not read from the damaged entry'
    assert 'decoded in' in p.notes[0]
    assert np.array_equal(p.train.x.numpy(), good)
    # and rebuilt: the next load finds it
    before = counts()
    load(tmp_path)
    assert counts()['decoded'] == before['decoded']
    assert json.loads(hj.read_text()) == header and u8.stat().st_size == 6 * 5 * 4 * 3


def test_a_write_that_fails_leaves_no_entry_and_no_temporary_file(tmp_path, monkeypatch):
    make_folder(tmp_path)
    real = IC.write_atomic

    def failing(file, data):
        if file.endswith('.json') and not os.path.basename(file).startswith('index-'):
            raise OSError(28, 'No space left on device')
        real(file, data)
    monkeypatch.setattr(IC, 'write_atomic', failing)
    p = load(tmp_path)
    assert '(not cached: [Errno 28] No space left on device)' in p.notes[0]
    names = entries(tmp_path)
    assert not [n for n in names if n.endswith('.json') and not n.startswith('index-')], 'no header: no entry'
    assert not [n for n in names if '.tmp-' in n]
    monkeypatch.setattr(IC, 'write_atomic', real)
    before = counts()
    load(tmp_path)  # a pixel file without its header is not an entry: decoded again, then complete
    assert counts()['decoded'] - before['decoded'] == 6
    before = counts()
    load(tmp_path)
    assert counts()['decoded'] == before['decoded']


def test_write_atomic_removes_its_temporary_file_on_failure(tmp_path, monkeypatch):
    target = str(tmp_path / 'x.u8')

    def boom(_fd):
        raise OSError(5, 'I/O error')
    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(OSError):
        IC.write_atomic(target, b'abc')
    assert os.listdir(tmp_path) == []


def test_a_torch_run_says_it_found_the_folder_in_the_decode_cache(tmp_path, monkeypatch):
    """The engine's log, as the TF.js engine's: the first run decodes, the second finds the pixels."""
    import torch
    from conftest import create_run, tiny_experiment
    from distill_torch import engine
    monkeypatch.setenv('DISTILL_THREADS', '1')
    rng = np.random.default_rng(3)
    for c in range(3):
        os.makedirs(tmp_path / 'exp' / 'imgs' / f'c{c}')
        for k in range(8):
            Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8), 'L').save(tmp_path / 'exp' / 'imgs' / f'c{c}' / f'{k}.png')
    src = {'format': 'images', 'path': 'imgs', 'channels': 1}
    logs = []
    for run_id in ('20261202-120000', '20261202-120001'):
        msg = tiny_experiment(str(tmp_path / 'exp'), epochs=1, baseline=False, knowledge=[
            {'kind': 'response', 'method': 'kd', 'temperature': 4, 'weight': 1, 'schedule': {'kind': 'constant'}}],
            data={'train': src, 'test': src, 'normalize': 'scale', 'shuffleSeed': 0})
        sent = []
        s = engine.prepare(msg, send=sent.append, should_stop=lambda: False, versions={'python': '3', 'torch': torch.__version__})
        run_dir = create_run(msg, str(tmp_path / 'exp' / '.distill' / 'runs'), run_id)
        assert s.run(run_dir, False) == 'completed', [m for m in sent if m['type'] == 'failed']
        logs.append([m['message'] for m in sent if m['type'] == 'log'])
    assert any(m.startswith('data.train: 24 images of imgs decoded in ') for m in logs[0]), logs[0]
    assert any(m.startswith('data.train: 24 images of imgs found in the decode cache in ') and m.endswith('no image read)') for m in logs[1]), logs[1]


def test_an_image_that_cannot_be_read_is_a_located_error(tmp_path, monkeypatch):
    make_folder(tmp_path)
    import builtins
    bad = str(tmp_path / 'imgs' / 'dog' / '1.png')

    def fake_open(file, *a, **k):
        if str(file) == bad:
            raise PermissionError(13, 'Permission denied', bad)
        return builtins.open(file, *a, **k)
    monkeypatch.setattr(IC, 'open', fake_open, raising=False)
    with pytest.raises(D.ConfigError) as e:
        load(tmp_path)
    assert e.value.path == ['data', 'train', 'path'] and e.value.message == f'{bad}: cannot read the image (Permission denied)'
