"""Data files of a training run: reading an .npz data set and checking what it holds."""
import os
import zipfile

import numpy as np

from gconv_experiments.training.config import ConfigError


def load_npz_dataset(path):
    """Read an .npz with 'data' (N, C, H, W) floats and 'labels' (N,) integers >= 0.

    Returns (data as float32, labels as int32). Raises FileNotFoundError or ConfigError naming
    the file and what was expected.
    """
    expected = "an .npz file with 'data' (N, C, H, W) float32 and 'labels' (N,) int32"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path} not found (expected {expected})")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("data", "labels") if k not in f.files]
            if missing:
                raise ConfigError(f"{path}: missing key(s) {missing} (found {f.files}; expected {expected})")
            data, labels = f["data"], f["labels"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: cannot read it as .npz ({e}); expected {expected}") from None
    if data.ndim != 4 or not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise ConfigError(f"{path}: 'data' must be a numeric array of shape (N, C, H, W), "
                          f"got {data.dtype} {data.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(data):
        raise ConfigError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ConfigError(f"{path}: the data set is empty")
    if labels.min() < 0:
        raise ConfigError(f"{path}: labels must be >= 0, found {labels.min()}")
    return data.astype(np.float32, copy=False), labels.astype(np.int32)
