"""CIFAR-10 preparation: read the official python archive, normalise, whiten, cache.

Source: the official ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
folder. It holds six pickles (written by Python 2, hence ``encoding='bytes'``), each a dict
with ``b'data'``, a uint8 array (n, 3072) of channel-major 32x32 RGB images, and
``b'labels'``, n ints in 0..9. Any n works (tests use tiny archives).

Splits (the paper's protocol):

* ``train``      data_batch_1..4   (40 000 images)
* ``valid``      data_batch_5      (10 000)
* ``train_all``  data_batch_1..5   (50 000)
* ``test``       test_batch        (10 000)

Preprocessing (the pylearn2 recipe used for maxout networks and All-CNN-C, on which the
G-CNN paper builds; constants as recalled from pylearn2's CIFAR-10 script, which could not be
consulted offline -- both can be changed through ``prepare``):

1. Global contrast normalisation, per image, on pixel values in [0, 255]:
   ``x <- (x - mean(x)) / max(sqrt(GCN_SQRT_BIAS + var(x)), GCN_MIN_DIVISOR)``
   with the sample variance (ddof=1) over the 3072 values, ``GCN_SQRT_BIAS = 10``
   and ``GCN_MIN_DIVISOR = 1e-8`` (a constant image becomes all zeros).
2. ZCA whitening fitted on the ``train`` split (40k) ONLY and applied to all four splits,
   so validation and test images never influence the transform; ``train_all`` runs use
   the same transform (the 10k validation images are not part of the fit):
   ``x <- (x - mu) W``, ``W = U diag(1 / sqrt(lambda + ZCA_EPSILON)) U^T`` where
   ``U diag(lambda) U^T`` is the covariance of the training split and
   ``ZCA_EPSILON = 1`` (pylearn2's "filter bias"; after GCN each pixel has variance
   about 1, and the regulariser keeps the many low-variance directions from being
   amplified to noise).

The result is cached in ``<datadir>/preprocessed/{train,valid,train_all,test}.npz`` (keys
``data`` float32 (N, 3, 32, 32), ``labels`` int32 (N,)) plus ``fingerprint.json``, each
written atomically (temp file + rename, fingerprint last). The fingerprint holds the SHA-256
of the source files and the preprocessing settings; a changed source or setting rebuilds
the cache. When the source is gone but a complete cache is present, the cache is used.

Command line::

    python -m gconv_experiments.CIFAR10.cifar10 --datadir DIR [--source PATH] [--force]

Bad or partial data raises ``ValueError`` naming the file and what was expected (the
command line prints ``error: ...`` and exits with status 2).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import sys
import tarfile
import zlib

import numpy as np

from gconv_experiments.atomic_file import atomic_path, write_text

ARCHIVE_NAME = 'cifar-10-python.tar.gz'
FOLDER_NAME = 'cifar-10-batches-py'
TRAIN_BATCHES = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4')
VALID_BATCHES = ('data_batch_5',)
TEST_BATCHES = ('test_batch',)
ALL_BATCHES = TRAIN_BATCHES + VALID_BATCHES + TEST_BATCHES
SPLITS = ('train', 'valid', 'train_all', 'test')
IMAGE_SHAPE = (3, 32, 32)
N_CLASSES = 10

GCN_SQRT_BIAS = 10.0
GCN_MIN_DIVISOR = 1e-8
ZCA_EPSILON = 1.0
CACHE_VERSION = 1


# ----------------------------------------------------------------------------- reading

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
    return {'train': cat(TRAIN_BATCHES), 'valid': cat(VALID_BATCHES),
            'train_all': cat(TRAIN_BATCHES + VALID_BATCHES), 'test': cat(TEST_BATCHES)}


# ----------------------------------------------------------------------------- preprocessing

def global_contrast_normalize(x, sqrt_bias=GCN_SQRT_BIAS, min_divisor=GCN_MIN_DIVISOR):
    """Per-image GCN. x: (N, ...) any real dtype -> float64 (N, ...), see module docstring."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    ddof = 1 if flat.shape[1] > 1 else 0
    scale = np.sqrt(sqrt_bias + flat.var(axis=1, ddof=ddof, keepdims=True))
    return (flat / np.maximum(scale, min_divisor)).reshape(x.shape)


def fit_zca(x, epsilon=ZCA_EPSILON):
    """Fit ZCA whitening on x (N, D...) -> (mean (D,), W (D, D)), both float64.

    ``(x - mean) @ W`` has covariance ``U diag(lambda / (lambda + epsilon)) U^T``: the
    identity on the span of the data when epsilon << the eigenvalues.
    """
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(flat) < 2:
        raise ValueError(f'fit_zca needs at least 2 samples, got {len(flat)}')
    mean = flat.mean(axis=0)
    centred = flat - mean
    n, d = centred.shape
    if n >= d:
        eigval, eigvec = np.linalg.eigh(centred.T @ centred / n)
        eigval = np.clip(eigval, 0.0, None)
        w = (eigvec / np.sqrt(eigval + epsilon)) @ eigvec.T
    else:
        # fewer samples than dimensions: the covariance is zero off the row space of the
        # data, so the same W follows from a thin SVD (cheap) plus 1/sqrt(eps) elsewhere
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        coef = 1.0 / np.sqrt(s ** 2 / n + epsilon) - 1.0 / np.sqrt(epsilon)
        w = (vt.T * coef) @ vt + np.eye(d) / np.sqrt(epsilon)
    return mean, w


def apply_zca(x, mean, w, dtype=np.float32):
    """Whiten x (N, D...) with a fitted (mean, W); keeps the shape, returns ``dtype``."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return ((flat - mean) @ w).astype(dtype).reshape(np.shape(x))


def preprocess(splits: dict, zca_epsilon=ZCA_EPSILON, gcn_sqrt_bias=GCN_SQRT_BIAS) -> dict:
    """GCN every split, fit ZCA on ``train`` only, whiten all: {split: (float32, int32)}."""
    mean, w = fit_zca(global_contrast_normalize(splits['train'][0], sqrt_bias=gcn_sqrt_bias),
                      epsilon=zca_epsilon)
    # one split at a time keeps only one float64 copy of the data alive
    return {k: (apply_zca(global_contrast_normalize(x, sqrt_bias=gcn_sqrt_bias), mean, w),
                t.astype(np.int32)) for k, (x, t) in splits.items()}


# ----------------------------------------------------------------------------- cache

# (path, size, mtime_ns) -> SHA-256: one training run reads several splits, and each read checks
# the cache against the source; an unchanged file is hashed once per process.
_DIGESTS = {}


def _sha256(fn: str) -> str:
    st = os.stat(fn)
    key = (os.path.abspath(fn), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(fn, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _fingerprint(source: str, zca_epsilon, gcn_sqrt_bias) -> dict:
    files = ([os.path.join(source, n) for n in ALL_BATCHES] if os.path.isdir(source)
             else [source])
    digests = {}
    for fn in files:
        if not os.path.isfile(fn):
            raise ValueError(f'{fn}: missing CIFAR-10 batch file (expected {", ".join(ALL_BATCHES)} '
                             f'in {os.path.dirname(fn) or "."})')
        try:
            digests[os.path.basename(fn)] = _sha256(fn)
        except OSError as e:
            raise ValueError(f'{fn}: cannot read CIFAR-10 source file ({e})') from None
    return {'version': CACHE_VERSION, 'sha256': digests,
            'gcn_sqrt_bias': float(gcn_sqrt_bias), 'gcn_min_divisor': GCN_MIN_DIVISOR,
            'zca_epsilon': float(zca_epsilon), 'zca_fit_split': 'train'}


def cache_dir(datadir: str) -> str:
    return os.path.join(datadir, 'preprocessed')


def _read_fingerprint(datadir):
    fn = os.path.join(cache_dir(datadir), 'fingerprint.json')
    try:
        with open(fn) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _cache_complete(datadir) -> bool:
    return all(os.path.isfile(os.path.join(cache_dir(datadir), s + '.npz')) for s in SPLITS)


def prepare(datadir: str, source: str | None = None, force=False,
            zca_epsilon=ZCA_EPSILON, gcn_sqrt_bias=GCN_SQRT_BIAS) -> bool:
    """Make sure ``<datadir>/preprocessed/`` holds up-to-date splits; returns True if built.

    ``source`` defaults to ``datadir`` (searched for the archive or the batches folder).
    """
    if source is None:
        try:
            source = find_source(datadir)
        except ValueError:
            if _cache_complete(datadir) and _read_fingerprint(datadir) and not force:
                return False  # source removed after preprocessing: keep using the cache
            raise ValueError(f'{datadir}: no {ARCHIVE_NAME} or {FOLDER_NAME}/ here and no '
                             f'complete cache in {cache_dir(datadir)} (pass --source PATH)') \
                from None
    source = find_source(source)
    fp = _fingerprint(source, zca_epsilon, gcn_sqrt_bias)
    if not force and _cache_complete(datadir) and _read_fingerprint(datadir) == fp:
        return False
    out = preprocess(split_batches(read_batches(source)), zca_epsilon, gcn_sqrt_bias)
    os.makedirs(cache_dir(datadir), exist_ok=True)
    stale = os.path.join(cache_dir(datadir), 'fingerprint.json')
    if os.path.exists(stale):
        os.remove(stale)  # a crash while rewriting must not leave a valid-looking cache
    for split, (data, labels) in out.items():
        with atomic_path(os.path.join(cache_dir(datadir), split + '.npz')) as tmp:
            np.savez(tmp, data=data, labels=labels)
    write_text(stale, json.dumps(fp, indent=1))
    return True


def load_split(datadir: str, split: str):
    """Load one cached split: (float32 (N, 3, 32, 32), int32 (N,)); run prepare() first."""
    if split not in SPLITS:
        raise ValueError(f'unknown CIFAR-10 split {split!r}; expected one of {SPLITS}')
    fn = os.path.join(cache_dir(datadir), split + '.npz')
    try:
        with np.load(fn) as f:
            data, labels = f['data'], f['labels']
    except (OSError, KeyError, ValueError, zlib.error) as e:
        raise ValueError(f'{fn}: expected a preprocessed CIFAR-10 split with keys data, '
                         f'labels (run python -m gconv_experiments.CIFAR10.cifar10 '
                         f'--datadir {datadir}) ({e})') from None
    if data.dtype != np.float32 or data.shape[1:] != IMAGE_SHAPE or labels.dtype != np.int32 \
            or labels.shape != (len(data),):
        raise ValueError(f'{fn}: expected data float32 (N, 3, 32, 32) and labels int32 (N,), '
                         f'got {data.dtype} {data.shape} and {labels.dtype} {labels.shape}')
    return data, labels


def load(datadir: str, splits=SPLITS, source: str | None = None):
    """prepare() then load the named splits: {split: (data, labels)}."""
    prepare(datadir, source)
    return {s: load_split(datadir, s) for s in splits}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description='Preprocess CIFAR-10 (GCN + ZCA fitted on the 40k training split) into '
                    'DATADIR/preprocessed/{train,valid,train_all,test}.npz.')
    parser.add_argument('--datadir', required=True,
                        help='folder for preprocessed/ (and default place of the source)')
    parser.add_argument('--source', default=None,
                        help=f'{ARCHIVE_NAME} or {FOLDER_NAME}/ (default: look in --datadir)')
    parser.add_argument('--force', action='store_true', help='rebuild even if the cache is valid')
    args = parser.parse_args(argv)
    try:
        built = prepare(args.datadir, args.source, force=args.force)
        data = {s: load_split(args.datadir, s) for s in SPLITS}
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(('built' if built else 'reused') + f' cache in {cache_dir(args.datadir)}')
    for s, (x, t) in data.items():
        print(f'{s:>9}: data {x.dtype} {x.shape}, labels {t.dtype} {t.shape}, '
              f'class counts {np.bincount(t, minlength=N_CLASSES).tolist()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
