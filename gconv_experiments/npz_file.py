"""Reading the arrays of an .npz data file: the one reader behind training's data files and the
MNIST-rot splits, with one error for a file that cannot be read or lacks a key.

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")
>>> np.savez(path, data=np.zeros((2, 1, 3, 3), np.float32), labels=np.array([0, 1]))
>>> arrays = read_arrays(path)
>>> arrays["data"].shape, arrays["labels"].tolist()
((2, 1, 3, 3), [0, 1])
>>> read_arrays(path, keys=("data", "images"))
Traceback (most recent call last):
ValueError: .../tiny.npz: missing key(s) images (found data, labels; expected 'data' and 'images')
"""
import zipfile
import zlib

import numpy as np

__all__ = ["read_arrays"]

_UNREADABLE = (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, AttributeError)


def read_arrays(path: str, keys: tuple = ("data", "labels"), *, expected: str = "",
                error: type = ValueError) -> dict:
    """{key: array} of the arrays `keys` stored in the .npz file `path` (no pickles). A file that
    cannot be read as .npz, or lacks a key, raises `error` (a ValueError subclass) naming the
    file and `expected` (default: the keys)."""
    expected = expected or " and ".join(repr(k) for k in keys)
    try:
        with np.load(path, allow_pickle=False) as f:
            files = list(f.files)
            arrays = {k: f[k] for k in keys if k in files}
    except _UNREADABLE as e:
        raise error(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); expected {expected}") from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise error(f"{path}: missing key(s) {', '.join(missing)} (found {', '.join(files)}; expected {expected})")
    return arrays
