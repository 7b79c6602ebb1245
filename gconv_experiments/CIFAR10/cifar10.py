"""CIFAR-10 preparation as gconv_experiments/CIFAR10/cifar10.py of the release
(tscohen/gconv_experiments ca88c58) does it: read the official python archive, normalise,
whiten, cache.

Source: the official ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
folder. It holds six pickles (written by Python 2, hence ``encoding='bytes'``), each a dict
with ``b'data'``, a uint8 array (n, 3072) of channel-major 32x32 RGB images, and
``b'labels'``, n ints in 0..9. Any n works (tests use tiny archives).

Splits (the release's, in its image order):

* ``train``      data_batch_1..4 (the first 40 000 training images)
* ``val``        data_batch_5    (the last 10 000; ``valid`` is accepted as an alias)
* ``train_all``  data_batch_1..5 (50 000)
* ``test``       test_batch      (10 000)

Preprocessing, with the release's constants and order of operations:

1. Global contrast normalisation, per image, on pixel values in [0, 255]:
   ``x <- x - mean(x)``, then ``x <- x / s`` with ``s = sqrt(var(x))`` (sample variance,
   ddof 1, over the 3072 values), ``s`` replaced by 1 where ``s < GCN_MIN_STD = 1e-8``.
   No other scale factor.
2. ZCA whitening, fitted on ``train`` (40k) for the ``train`` and ``val`` files and on
   ``train_all`` (50k) for the ``train_all`` and ``test`` files:
   ``x <- W (x - m)`` with ``m`` the mean image of the fitting set and
   ``W = U diag(1 / (S + ZCA_REGULARIZER)) U^T``, ``ZCA_REGULARIZER = 1e-5``, where
   ``U diag(S) V^T`` is the SVD of the centred fitting set divided by sqrt(n - 1): ``S`` are
   the square roots of the eigenvalues of its covariance (ddof 1), so the inverse scale is
   1 / (sqrt(eigenvalue) + 1e-5). With n >= 3072 images (real CIFAR-10) we take ``U``, ``S``
   from the eigendecomposition of the covariance (the same W, cheaper); with fewer (tiny test
   archives) from the SVD as the release does, whose last direction, orthogonal to the
   fitting data, then gets the weight 1e5 as in the release. We compute in float64 (the
   release: float32) and store float32. A fit on at most 3072 images has a singular
   covariance: images outside the fitting set (val, test) come out up to ~1e4 where the
   fitted ones stay near 1. The numbers are kept as the release's, with a
   :class:`SingularZCAWarning` naming the fit size.

The result is cached in ``<datadir>/preprocessed/{train,val,train_all,test}.npz`` (keys
``data`` float32 (N, 3, 32, 32), ``labels`` int32 (N,)) plus ``fingerprint.json``, each
written atomically (temp file + rename, fingerprint last). The fingerprint holds the SHA-256
of the source files, the preprocessing settings and the size and SHA-256 of every cached
file: a changed source or setting rebuilds the cache, and a truncated or damaged cache file
is detected (size at ``prepare``, content hash when a split is loaded) and rebuilt from the
source, or, without the source, named with the command that rebuilds it. When the source is
gone but an intact cache is present, the cache is used.

Command line::

    python -m gconv_experiments.CIFAR10.cifar10 --datadir DIR [--source PATH] [--force]

Bad or partial data raises ``ValueError`` naming the file and what was expected (the
command line prints ``error: ...`` and exits with status 2).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

from gconv_experiments.atomic_file import atomic_path, write_text
from gconv_experiments.command_errors import run_command
from gconv_experiments.file_digest import sha256_file
from gconv_experiments.npz_file import read_arrays
from gconv_experiments.CIFAR10.cifar10_source import (  # noqa: F401  (part of this module's API)
    ALL_BATCHES, ARCHIVE_NAME, FOLDER_NAME, IMAGE_SHAPE, N_CLASSES, TEST_BATCHES, TRAIN_BATCHES,
    VALID_BATCHES, find_source, read_batches, split_batches)

__all__ = ["SingularZCAWarning", "SPLITS", "SPLIT_ALIASES", "ZCA_FIT_ON", "GCN_MIN_STD", "ZCA_REGULARIZER", "CACHE_VERSION", "global_contrast_normalize", "fit_zca", "apply_zca", "preprocess", "CacheError", "cache_dir", "canonical_split", "prepare", "load_split", "load", "main", "ALL_BATCHES", "ARCHIVE_NAME", "FOLDER_NAME", "IMAGE_SHAPE", "N_CLASSES", "TEST_BATCHES", "TRAIN_BATCHES", "VALID_BATCHES", "find_source", "read_batches", "split_batches"]

SPLITS = ('train', 'val', 'train_all', 'test')
SPLIT_ALIASES = {'valid': 'val'}
# the split whose images the ZCA of each split is fitted on (release cifar10.py:65-78)
ZCA_FIT_ON = {'train': 'train', 'val': 'train', 'train_all': 'train_all', 'test': 'train_all'}

GCN_MIN_STD = 1e-8       # release normalize(): std[std < eps] = 1 with eps = 1e-8
ZCA_REGULARIZER = 1e-5   # release PCA.transform(): Sinv = 1 / (S + 10 ** -5)
CACHE_VERSION = 2
_CHUNK = 4096            # images per matrix product (bounds temporary memory)


# ----------------------------------------------------------------------------- preprocessing

class SingularZCAWarning(UserWarning):
    """A ZCA fitted on no more images than input dimensions: its covariance is singular."""


def global_contrast_normalize(x: np.ndarray, min_std: float = GCN_MIN_STD) -> np.ndarray:
    """The release's per-image GCN: x (N, ...) any real dtype -> float32 (N, ...).
    Subtract each image's mean, divide by its std (ddof 1), a std below min_std counting as 1."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), _CHUNK):
        flat = x[start:start + _CHUNK].reshape(min(_CHUNK, len(x) - start), -1).astype(np.float64)
        flat -= flat.mean(axis=1, keepdims=True)
        std = np.sqrt(flat.var(axis=1, ddof=1, keepdims=True))
        std[std < min_std] = 1.0
        out[start:start + _CHUNK] = (flat / std).reshape(flat.shape[:1] + x.shape[1:])
    return out


def fit_zca(x: np.ndarray, regularizer: float = ZCA_REGULARIZER) -> tuple:
    """Fit the release's ZCA on x (n, D...) -> (mean (D,), W (D, D)), both float64, with
    ``W = U diag(1 / (S + regularizer)) U^T`` and ``U diag(S) V^T`` the SVD of the centred
    data / sqrt(n - 1) (see the module docstring). With n <= D the covariance is singular:
    a :class:`SingularZCAWarning` says so (the fit is still the release's)."""
    n = len(x)
    if n < 2:
        raise ValueError(f'fit_zca needs at least 2 samples, got {n}')
    d = int(np.prod(np.shape(x)[1:]))
    if n <= d:
        warnings.warn(f'ZCA whitening fitted on {n} images, not more than the {d} input dimensions: the '
                      f'covariance is singular and held-out inputs are amplified up to {1 / regularizer:g}-fold '
                      f'along its null space (~1e4 where the fitting images stay near 1); use at least '
                      f'{d + 1} training images', SingularZCAWarning, stacklevel=2)
    mean = np.zeros(d)
    for start in range(0, n, _CHUNK):
        mean += np.asarray(x[start:start + _CHUNK], dtype=np.float64).reshape(-1, d).sum(axis=0)
    mean /= n
    if n >= d:
        cov = np.zeros((d, d))
        for start in range(0, n, _CHUNK):
            c = np.asarray(x[start:start + _CHUNK], dtype=np.float64).reshape(-1, d) - mean
            cov += c.T @ c
        eigval, u = np.linalg.eigh(cov / (n - 1))
        s = np.sqrt(np.clip(eigval, 0.0, None))
    else:
        centred = (np.asarray(x, dtype=np.float64).reshape(n, d) - mean) / np.sqrt(n - 1)
        u, s, _ = np.linalg.svd(centred.T, full_matrices=False)
    return mean, (u / (s + regularizer)) @ u.T


def apply_zca(x: np.ndarray, mean: np.ndarray, w: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Whiten x (N, D...) with a fitted (mean, W): ``W (x - mean)`` per image; keeps the
    shape, returns ``dtype``."""
    out = np.empty(np.shape(x), dtype=dtype)
    d = len(mean)
    for start in range(0, len(x), _CHUNK):
        c = np.asarray(x[start:start + _CHUNK], dtype=np.float64).reshape(-1, d) - mean
        out[start:start + _CHUNK] = (c @ w.T).reshape((len(c),) + np.shape(x)[1:])
    return out


def preprocess(splits: dict, regularizer: float = ZCA_REGULARIZER, emit=None) -> dict:
    """GCN every split, fit the ZCA on ``train`` and on ``train_all``, whiten each split with
    the fit ZCA_FIT_ON names: {split: (float32, int32)}. ``emit(split, data, labels)``, when
    given, receives each split instead (one split in memory at a time) and {} is returned."""
    fits = {k: fit_zca(global_contrast_normalize(splits[k][0]), regularizer)
            for k in sorted(set(ZCA_FIT_ON.values()))}
    out = {}
    for k, (x, t) in splits.items():
        data = apply_zca(global_contrast_normalize(x), *fits[ZCA_FIT_ON[k]])
        if emit is None:
            out[k] = (data, t.astype(np.int32))
        else:
            emit(k, data, t.astype(np.int32))
    return out


# ----------------------------------------------------------------------------- cache

def _fingerprint(source: str, regularizer) -> dict:
    files = ([os.path.join(source, n) for n in ALL_BATCHES] if os.path.isdir(source)
             else [source])
    digests = {}
    for fn in files:
        if not os.path.isfile(fn):
            raise ValueError(f'{fn}: missing CIFAR-10 batch file (expected {", ".join(ALL_BATCHES)} '
                             f'in {os.path.dirname(fn) or "."})')
        try:
            digests[os.path.basename(fn)] = sha256_file(fn)
        except OSError as e:
            raise ValueError(f'{fn}: cannot read CIFAR-10 source file ({e})') from None
    return {'version': CACHE_VERSION, 'sha256': digests, 'gcn_min_std': GCN_MIN_STD,
            'zca_regularizer': float(regularizer), 'zca_fit_on': ZCA_FIT_ON}


class CacheError(ValueError):
    """A cached split that is missing, truncated or damaged."""


def cache_dir(datadir: str) -> str:
    return os.path.join(datadir, 'preprocessed')


def _split_file(datadir, split):
    return os.path.join(cache_dir(datadir), split + '.npz')


def _rebuild_command(datadir):
    return f'python -m gconv_experiments.CIFAR10.cifar10 --datadir {datadir} --force'


def canonical_split(split: str) -> str:
    """'valid' -> 'val'; a known split name unchanged; anything else is a ValueError."""
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(f'unknown CIFAR-10 split {split!r}; expected one of {SPLITS} '
                         f'(or {", ".join(SPLIT_ALIASES)})')
    return split


def _read_fingerprint(datadir):
    fn = os.path.join(cache_dir(datadir), 'fingerprint.json')
    try:
        with open(fn) as f:
            fp = json.load(f)
    except (OSError, ValueError):
        return None
    return fp if isinstance(fp, dict) else None


def _damaged_files(datadir, fp) -> list:
    """Cached split files that are missing or whose size differs from the fingerprint's."""
    outputs = (fp or {}).get('outputs', {})
    bad = []
    for split in SPLITS:
        fn = _split_file(datadir, split)
        expected = outputs.get(split, {}).get('size')
        if not os.path.isfile(fn) or os.path.getsize(fn) != expected:
            bad.append(fn)
    return bad


def prepare(datadir: str, source: str | None = None, force: bool = False,
            regularizer: float = ZCA_REGULARIZER, quiet: bool = True) -> bool:
    """Make sure ``<datadir>/preprocessed/`` holds up-to-date, intact splits; returns True if
    it (re)built them. ``source`` defaults to ``datadir`` (searched for the archive or the
    batches folder). Without a source an intact cache is used; a damaged one is a CacheError
    naming the file and the command that rebuilds it."""
    old = _read_fingerprint(datadir)
    if source is None:
        try:
            source = find_source(datadir)
        except ValueError:
            if old is None:
                raise ValueError(f'{datadir}: no {ARCHIVE_NAME} or {FOLDER_NAME}/ here and no '
                                 f'complete cache in {cache_dir(datadir)} (pass --source PATH)') \
                    from None
            bad = _damaged_files(datadir, old)
            if bad:
                raise CacheError(f'{bad[0]}: missing, truncated or damaged preprocessed CIFAR-10 '
                                 f'file and no {ARCHIVE_NAME} or {FOLDER_NAME}/ in {datadir} to '
                                 f'rebuild it from; put the source there and run '
                                 f'{_rebuild_command(datadir)}') from None
            return False  # source removed after preprocessing: keep using the cache
    source = find_source(source)
    fp = _fingerprint(source, regularizer)
    if not force and old is not None and {k: v for k, v in old.items() if k != 'outputs'} == fp:
        bad = _damaged_files(datadir, old)
        if not bad:
            return False
        if not quiet:
            print(f'{bad[0]}: truncated or damaged; rebuilding the preprocessed CIFAR-10 cache',
                  file=sys.stderr)
    os.makedirs(cache_dir(datadir), exist_ok=True)
    stale = os.path.join(cache_dir(datadir), 'fingerprint.json')
    if os.path.exists(stale):
        os.remove(stale)  # a crash while rewriting must not leave a valid-looking cache
    outputs = {}

    def emit(split, data, labels):
        fn = _split_file(datadir, split)
        with atomic_path(fn) as tmp:
            np.savez(tmp, data=data, labels=labels)
        outputs[split] = {'size': os.path.getsize(fn), 'sha256': sha256_file(fn)}

    preprocess(split_batches(read_batches(source)), regularizer, emit=emit)
    write_text(stale, json.dumps(dict(fp, outputs=outputs), indent=1))
    return True


def load_split(datadir: str, split: str) -> tuple:
    """Load one cached split: (float32 (N, 3, 32, 32), int32 (N,)); run prepare() first.
    A file that does not match its fingerprint (size, SHA-256) or cannot be read is a
    CacheError naming it and the command that rebuilds it."""
    split = canonical_split(split)
    fn = _split_file(datadir, split)
    hint = f'(run {_rebuild_command(datadir)})'
    expected = ((_read_fingerprint(datadir) or {}).get('outputs') or {}).get(split)
    if not os.path.isfile(fn) or expected is None:
        raise CacheError(f'{fn}: expected a preprocessed CIFAR-10 split with keys data, labels '
                         f'and its entry in fingerprint.json {hint}')
    try:
        intact = os.path.getsize(fn) == expected.get('size') and sha256_file(fn) == expected.get('sha256')
    except OSError:
        intact = False
    if not intact:
        raise CacheError(f'{fn}: truncated or damaged preprocessed CIFAR-10 file (size or '
                         f'SHA-256 differs from fingerprint.json) {hint}')
    arrays = read_arrays(fn, ('data', 'labels'), error=CacheError,
                         expected=f'a preprocessed CIFAR-10 split with keys data, labels {hint}')
    data, labels = arrays['data'], arrays['labels']
    if data.dtype != np.float32 or data.shape[1:] != IMAGE_SHAPE or labels.dtype != np.int32 \
            or labels.shape != (len(data),):
        raise CacheError(f'{fn}: expected data float32 (N, 3, 32, 32) and labels int32 (N,), '
                         f'got {data.dtype} {data.shape} and {labels.dtype} {labels.shape} {hint}')
    return data, labels


def load(datadir: str, splits=SPLITS, source: str | None = None, quiet: bool = True) -> dict:
    """prepare() then load the named splits: {split: (data, labels)}. A cached file found
    damaged while loading is rebuilt once from the source (if there is one)."""
    prepare(datadir, source, quiet=quiet)
    try:
        return {s: load_split(datadir, s) for s in splits}
    except CacheError as e:
        try:
            source = find_source(datadir) if source is None else source
        except ValueError:
            raise e from None
        if not quiet:
            print(f'{e}; rebuilding', file=sys.stderr)
        prepare(datadir, source, force=True, quiet=quiet)
        return {s: load_split(datadir, s) for s in splits}


def main(argv=None) -> int:
    """Command line: preprocess CIFAR-10 into DATADIR/preprocessed/; returns the exit status."""
    parser = argparse.ArgumentParser(
        description='Preprocess CIFAR-10 as the release did (per-image GCN, ZCA fitted on the '
                    '40k training split for train/val and on all 50k for train_all/test) into '
                    'DATADIR/preprocessed/{train,val,train_all,test}.npz.')
    parser.add_argument('--datadir', required=True,
                        help='folder for preprocessed/ (and default place of the source)')
    parser.add_argument('--source', default=None,
                        help=f'{ARCHIVE_NAME} or {FOLDER_NAME}/ (default: look in --datadir)')
    parser.add_argument('--force', action='store_true', help='rebuild even if the cache is valid')
    args = parser.parse_args(argv)
    return run_command(lambda: _build(args), 'cifar10', {ValueError: 2, OSError: 2})


def _build(args):
    """Build (or reuse) the cache the command line `args` names and report its splits."""
    built = prepare(args.datadir, args.source, force=args.force, quiet=False)
    data = load(args.datadir, source=args.source, quiet=False)
    print(('built' if built else 'reused') + f' cache in {cache_dir(args.datadir)}')
    for s, (x, t) in data.items():
        print(f'{s:>9}: data {x.dtype} {x.shape}, labels {t.dtype} {t.shape}, '
              f'class counts {np.bincount(t, minlength=N_CLASSES).tolist()}')


if __name__ == '__main__':
    sys.exit(main())
