"""A tiny CIFAR-10 archive in the official pickle layout (CIFAR-10 is not available offline)."""
import os
import pickle
import tarfile

import numpy as np
import pytest

BATCHES = ['data_batch_%d' % i for i in range(1, 6)] + ['test_batch']


def make_batch_dicts(n_per_batch=20, seed=0):
    """{batch name: dict with b'data' uint8 (n, 3072) and b'labels' list of ints}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in BATCHES:
        # smooth-ish images: a random colour ramp plus noise, so GCN/ZCA see structure
        base = rng.integers(0, 256, size=(n_per_batch, 3, 1, 1))
        ramp = np.linspace(0, 60, 32)[None, None, :, None] * rng.standard_normal((n_per_batch, 1, 1, 1))
        noise = rng.normal(0, 20, size=(n_per_batch, 3, 32, 32))
        img = np.clip(base + ramp + noise, 0, 255).astype(np.uint8).reshape(n_per_batch, 3072)
        out[name] = {b'batch_label': name.encode(), b'data': img,
                     b'labels': [int(v) for v in rng.integers(0, 10, n_per_batch)],
                     b'filenames': [b'img%d.png' % i for i in range(n_per_batch)]}
    return out


def write_folder(folder, batches, skip=()):
    os.makedirs(folder, exist_ok=True)
    for name, d in batches.items():
        if name in skip:
            continue
        with open(os.path.join(folder, name), 'wb') as f:
            pickle.dump(d, f, protocol=2)
    return folder


def write_archive(path, batches, skip=()):
    folder = write_folder(os.path.join(os.path.dirname(path), '_build_' + os.path.basename(path)),
                          batches, skip)
    with tarfile.open(path, 'w:gz') as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname='cifar-10-batches-py/' + name)
    return path


@pytest.fixture
def tiny_batches():
    return make_batch_dicts()


@pytest.fixture
def tiny_archive(tmp_path, tiny_batches):
    """Path of a cifar-10-python.tar.gz with 5 x 20 training and 20 test images."""
    return write_archive(str(tmp_path / 'cifar-10-python.tar.gz'), tiny_batches)


class _Writers:
    make_batch_dicts = staticmethod(make_batch_dicts)
    write_folder = staticmethod(write_folder)
    write_archive = staticmethod(write_archive)


@pytest.fixture
def cifar_writers():
    """The helpers above, for tests that build broken or changed sources."""
    return _Writers
