"""Data files of a training run: reading an .npz data set, checking what it holds (shapes,
finite pixels, labels as stored), and the input normalisation of --normalization."""
import os

import numpy as np

from gconv_experiments.npz_file import read_arrays
from gconv_experiments.training.config import ConfigError

__all__ = ["NPZ_EXPECTED", "check_labels", "check_data", "check_dataset", "read_npz_dataset", "load_npz_dataset",
           "normalization_constants", "normalize", "balanced_order", "train_subset_indices"]

NPZ_EXPECTED = "an .npz file with 'data' (N, C, H, W) float32 and 'labels' (N,) int32"


_INT32_MAX = int(np.iinfo(np.int32).max)


def _first_bad(mask):
    """Index tuple of the first True entry of a boolean array."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def check_labels(path: str, labels: np.ndarray, n_classes: "int | None" = None) -> np.ndarray:
    """Check labels as stored: a 1-D array of integers (integer dtype, or floats holding
    whole numbers) with 0 <= y (< n_classes when given). Raises ConfigError naming `path`
    and the first bad index; returns the labels as int32."""
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise ConfigError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    upper = _INT32_MAX if n_classes is None else n_classes - 1
    if np.issubdtype(labels.dtype, np.floating):
        bad = ~np.isfinite(labels)
        bad[~bad] = labels[~bad] != np.floor(labels[~bad])
        if bad.any():
            i = _first_bad(bad)[0]
            raise ConfigError(f"{path}: labels must be whole numbers, found {labels[i].item()!r} at index {i}")
    bad = (labels < 0) | (labels > upper)
    if bad.any():
        i = _first_bad(bad)[0]
        expected = f"0 <= label < {n_classes}" if n_classes is not None else "a class index, 0 <= label < 2**31"
        raise ConfigError(f"{path}: label {labels[i].item()!r} at index {i} is out of range (expected {expected})")
    return labels.astype(np.int32)


def check_data(path: str, data: np.ndarray) -> np.ndarray:
    """Check pixels: a numeric (N, C, H, W) array whose float32 values are all finite (NaN,
    Inf or a value beyond float32's range is refused, naming `path` and the first bad index).
    Returns the data as float32."""
    if data.ndim != 4 or not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise ConfigError(f"{path}: 'data' must be a numeric array of shape (N, C, H, W), "
                          f"got {data.dtype} {data.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        x = data.astype(np.float32, copy=False)
    finite = np.isfinite(x)
    if not finite.all():
        i = _first_bad(~finite)
        raise ConfigError(f"{path}: non-finite pixel {data[i].item()!r} at index {i} (image {i[0]}); "
                          f"every value must be a finite float32")
    return x


def check_dataset(path: str, data: np.ndarray, labels: np.ndarray) -> tuple:
    """The one check of a data set as loaded (from an .npz file or a load_data hook): as many
    labels as images, not empty, labels by :func:`check_labels` and pixels by :func:`check_data`.
    Returns (data as float32, labels as int32); ConfigError naming `path` otherwise."""
    data, labels = np.asarray(data), np.asarray(labels)
    if len(labels) != len(data):
        raise ConfigError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ConfigError(f"{path}: the data set is empty")
    labels = check_labels(path, labels)
    return check_data(path, data), labels


def read_npz_dataset(path: str) -> tuple:
    """(data, labels) as stored in an .npz file with keys 'data' and 'labels', unchecked (the
    default load_data of a run, whose data :func:`check_dataset` checks as it is loaded).
    FileNotFoundError or ConfigError naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path} not found (expected {NPZ_EXPECTED})")
    arrays = read_arrays(path, ("data", "labels"), expected=NPZ_EXPECTED, error=ConfigError)
    return arrays["data"], arrays["labels"]


def load_npz_dataset(path: str) -> tuple:
    """Read an .npz with 'data' (N, C, H, W) numbers and 'labels' (N,) whole numbers >= 0.

    Returns (data as float32, labels as int32). Raises FileNotFoundError or ConfigError naming
    the file and what was expected (non-finite pixels and bad labels with their first index).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(path, data=np.ones((3, 1, 2, 2)), labels=np.array([0., 2., 1.]))
    >>> x, y = load_npz_dataset(path)
    >>> x.dtype, y.dtype, y.tolist()
    (dtype('float32'), dtype('int32'), [0, 2, 1])
    """
    return check_dataset(path, *read_npz_dataset(path))


def normalization_constants(train_x: np.ndarray, mode: str) -> tuple:
    """(shift, scale) of --normalization `mode` from the training images (N, C, H, W):
    'train_scalar' = the mean of all training pixels and the std (ddof 0) of the mean-removed
    training pixels, both computed in float64; 'none' = (0, 1).

    >>> normalization_constants(np.array([[[[1., 3.]]]], np.float32), "train_scalar")
    (2.0, 1.0)
    """
    if mode == "none":
        return 0.0, 1.0
    if mode != "train_scalar":
        raise ConfigError(f"--normalization must be train_scalar or none, got {mode!r}")
    mean = float(np.mean(train_x, dtype=np.float64))
    std = float(np.sqrt(np.mean(np.square(train_x.astype(np.float64) - mean))))
    if not np.isfinite(std) or std == 0:
        raise ConfigError(f"--normalization train_scalar: the training pixels have std {std}; "
                          f"use --normalization none")
    return mean, std


def normalize(x: np.ndarray, shift: float, scale: float) -> np.ndarray:
    """(x - shift) / scale as float32 (x itself when the constants are 0 and 1)."""
    if shift == 0.0 and scale == 1.0:
        return x
    return ((x - np.float32(shift)) / np.float32(scale)).astype(np.float32, copy=False)


def balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """An order of all examples whose every prefix is as class-balanced as the data allows.

    Each class's examples are shuffled by ``np.random.default_rng(seed)``; then rounds take the
    next example of every class that has one left, the classes of a round in a random order. So
    the first N examples have class counts differing by at most one for every N up to (classes
    x smallest class count), and the first N lie inside the first M > N: subsets of one seed
    are nested.

    >>> y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    >>> order = balanced_order(y, seed=0)
    >>> sorted(order.tolist()) == list(range(9)), [np.bincount(y[order[:n]], minlength=3).tolist() for n in (3, 6)]
    (True, [[1, 1, 1], [2, 2, 2]])
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    order = []
    for k in range(max(len(q) for q in queues)):
        present = [q for q in queues if k < len(q)]
        order.extend(int(present[i][k]) for i in rng.permutation(len(present)))
    return np.asarray(order, dtype=np.int64)


def train_subset_indices(labels: np.ndarray, size: "int | None", mode: str, seed: "int | None") -> np.ndarray:
    """Indices (ascending) of the training examples a run uses: --train_subset `mode` of
    --train_size `size` (None: all) with --subset_seed `seed` ('first': the first `size`).

    >>> train_subset_indices(np.array([1, 1, 1, 0]), 2, "first", None).tolist()
    [0, 1]
    >>> np.array([1, 1, 1, 0])[train_subset_indices(np.array([1, 1, 1, 0]), 2, "balanced", 5)].tolist()
    [1, 0]
    """
    n = len(labels) if size is None else size
    if mode == "first":
        return np.arange(n)
    if mode != "balanced":
        raise ConfigError(f"--train_subset must be first or balanced, got {mode!r}")
    return np.sort(balanced_order(labels, seed)[:n])
