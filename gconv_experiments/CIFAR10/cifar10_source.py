"""Reading the official CIFAR-10 python archive (``cifar-10-python.tar.gz``) or its extracted
``cifar-10-batches-py/`` folder into uint8 image arrays and labels, and grouping the batches
into the release's splits. Used by :mod:`gconv_experiments.CIFAR10.cifar10`.

Each of the six batch pickles (written by Python 2, hence ``encoding='bytes'``) is a dict with
``b'data'``, a uint8 array (n, 3072) of channel-major 32x32 RGB images, and ``b'labels'``, n
ints in 0..9. Bad or partial data raises ``ValueError`` naming the file and what was expected.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib

import numpy as np

__all__ = ["ARCHIVE_NAME", "FOLDER_NAME", "TRAIN_BATCHES", "VALID_BATCHES", "TEST_BATCHES", "ALL_BATCHES", "IMAGE_SHAPE", "N_CLASSES", "find_source", "read_batches", "split_batches"]

ARCHIVE_NAME = 'cifar-10-python.tar.gz'
FOLDER_NAME = 'cifar-10-batches-py'
TRAIN_BATCHES = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4')
VALID_BATCHES = ('data_batch_5',)
TEST_BATCHES = ('test_batch',)
ALL_BATCHES = TRAIN_BATCHES + VALID_BATCHES + TEST_BATCHES
IMAGE_SHAPE = (3, 32, 32)
N_CLASSES = 10


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays (the batches hold nothing else)."""

    _ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
        ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
        ('numpy', 'ndarray'), ('numpy', 'dtype'),
        ('_codecs', 'encode'),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'refusing to load {module}.{name}')


def _parse_batch(raw: bytes, where: str):
    """Unpickle one batch; returns (data uint8 (n, 3, 32, 32), labels int64 (n,))."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding='bytes').load()
    except Exception as e:  # truncated or foreign pickles raise many different types
        raise ValueError(f'{where}: not a readable CIFAR-10 batch pickle ({e})') from None
    if not isinstance(obj, dict):
        raise ValueError(f'{where}: expected a pickled dict with data and labels, '
                         f'got {type(obj).__name__}')
    obj = {(k.decode('latin1') if isinstance(k, bytes) else k): v for k, v in obj.items()}
    for key in ('data', 'labels'):
        if key not in obj:
            raise ValueError(f"{where}: missing key b'{key}' (have {sorted(obj)})")
    data = obj['data']
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        desc = (f'{data.dtype} array of shape {data.shape}' if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise ValueError(f"{where}: b'data' must be a uint8 array of shape (n, 3072), "
                         f'got {desc}')
    try:
        labels = np.asarray(obj['labels'])
    except Exception:
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or labels.shape[0] != data.shape[0] \
            or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: b'labels' must be {data.shape[0]} integers "
                         f'(one per image), got {labels.dtype} array of shape {labels.shape}')
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"{where}: b'labels' must lie in 0..{N_CLASSES - 1}, "
                         f'found values in {labels.min()}..{labels.max()}')
    return data.reshape((-1,) + IMAGE_SHAPE), labels.astype(np.int64)


def find_source(path: str) -> str:
    """Resolve ``path`` (the archive, the batches folder, or a folder holding either)."""
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, ALL_BATCHES[0])) or \
                os.path.basename(os.path.normpath(path)) == FOLDER_NAME:
            return path
        for name in (FOLDER_NAME, ARCHIVE_NAME):
            candidate = os.path.join(path, name)
            if os.path.exists(candidate):
                return candidate
        raise ValueError(f'{path}: expected {ARCHIVE_NAME} or {FOLDER_NAME}/ '
                         f'(with {", ".join(ALL_BATCHES)}) in this folder')
    raise ValueError(f'{path}: no such file or folder (expected {ARCHIVE_NAME} '
                     f'or {FOLDER_NAME}/)')


def _read_raw_files(source: str) -> dict:
    """Bytes of every batch file, keyed by batch name."""
    raw = {}
    if os.path.isdir(source):
        for name in ALL_BATCHES:
            fn = os.path.join(source, name)
            if not os.path.isfile(fn):
                raise ValueError(f'{fn}: missing CIFAR-10 batch file (expected '
                                 f'{", ".join(ALL_BATCHES)} in {source})')
            with open(fn, 'rb') as f:
                raw[name] = f.read()
        return raw
    try:
        with tarfile.open(source, 'r:*') as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and name in ALL_BATCHES and name not in raw:
                    raw[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise ValueError(f'{source}: corrupt or truncated archive, expected a readable '
                         f'{ARCHIVE_NAME} ({e})') from None
    missing = [n for n in ALL_BATCHES if n not in raw]
    if missing:
        raise ValueError(f'{source}: archive lacks {", ".join(missing)} (expected '
                         f'{FOLDER_NAME}/{{{",".join(ALL_BATCHES)}}})')
    return raw


def read_batches(source: str) -> dict:
    """Read all six batches: ``{name: (uint8 (n, 3, 32, 32), int64 (n,))}``."""
    source = find_source(source)
    raw = _read_raw_files(source)
    return {name: _parse_batch(raw[name], f'{source}:{name}' if os.path.isfile(source)
                               else os.path.join(source, name)) for name in ALL_BATCHES}


def split_batches(batches: dict) -> dict:
    """Group batches into the four splits: ``{split: (uint8 images, int64 labels)}``."""
    def cat(names):
        return (np.concatenate([batches[n][0] for n in names]),
                np.concatenate([batches[n][1] for n in names]))
    return {'train': cat(TRAIN_BATCHES), 'val': cat(VALID_BATCHES),
            'train_all': cat(TRAIN_BATCHES + VALID_BATCHES), 'test': cat(TEST_BATCHES)}
