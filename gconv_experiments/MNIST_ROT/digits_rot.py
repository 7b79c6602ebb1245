"""The embedded default dataset of the README demo: a small rotated-digits set in the MNIST-rot
format, built from scikit-learn's bundled 8x8 digits (sklearn.datasets.load_digits; no download).

Each 8x8 digit (values 0..16) is scaled to [0, 1], upscaled bilinearly to 20x20 and centred in a
28x28 frame with a 4-pixel zero border (the layout of MNIST digits, so that rotating it does not
cut off its corners), then rotated by an angle uniform in [0, 2 pi) (bilinear, zero fill, see
augmentation.rotate). Train and test digits are disjoint draws (fixed seed) from the 1,797 digits.

Usage (writes train_all/train/valid/test .npz files like mnist_rot.py, for train.py --datadir):
    python -m gconv_experiments.MNIST_ROT.digits_rot --datadir DIR [--n-train N] [--n-test N]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import scipy.ndimage

from gconv_experiments.augmentation import rotate
from gconv_experiments.command_errors import run_command
from gconv_experiments.MNIST_ROT.mnist_rot import report_splits, save_splits

__all__ = ["N_DIGITS", "N_TRAIN", "N_TEST", "N_VALID", "DEFAULT_SEED", "BOX", "FRAME", "upscale_digits", "make_digits_rot", "load_digits_rot", "save_digits_rot", "main"]

N_DIGITS = 1797  # size of sklearn's bundled digits set
N_TRAIN, N_TEST, N_VALID = 1297, 500, 200
DEFAULT_SEED = 0
BOX, FRAME = 20, 28


def upscale_digits(images: np.ndarray) -> np.ndarray:
    """Upscale 8x8 digits (N, 8, 8) in [0, 1] bilinearly to 20x20, centred in (N, 28, 28) float32."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (N, 8, 8), got {images.shape}")
    box = scipy.ndimage.zoom(images, (1, BOX / 8, BOX / 8), order=1, mode="nearest", grid_mode=True)
    margin = (FRAME - BOX) // 2
    out = np.zeros((len(images), FRAME, FRAME), dtype=np.float32)
    out[:, margin:margin + BOX, margin:margin + BOX] = np.clip(box, 0.0, 1.0)
    return out


def make_digits_rot(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = DEFAULT_SEED) -> tuple:
    """Build (train, test) dicts: 'data' float32 (N, 1, 28, 28) in [0, 1], 'labels' int32 (N,),
    'angles' float64 (N,) in [0, 2 pi), 'digits_index' int64 (N,) into sklearn's digits."""
    from sklearn.datasets import load_digits

    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_train + n_test > N_DIGITS:
        raise ValueError(f"n_train + n_test = {n_train} + {n_test} exceeds the {N_DIGITS} digits "
                         "of sklearn.datasets.load_digits")
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    splits = []
    for index in (order[:n_train], order[n_train:n_train + n_test]):
        angles = rng.uniform(0.0, 2.0 * np.pi, size=len(index))
        upright = upscale_digits(digits.images[index] / 16.0)[:, None]
        splits.append({"data": np.clip(rotate(upright, angles), 0.0, 1.0),
                       "labels": digits.target[index].astype(np.int32),
                       "angles": angles, "digits_index": index.astype(np.int64)})
    return tuple(splits)


def load_digits_rot(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = DEFAULT_SEED) -> tuple:
    """The rotated-digits set as {'train': (data, labels), 'test': (data, labels)}, data float32
    (N, 1, 28, 28) in [0, 1], labels int32 (N,); train and test digits are disjoint."""
    train, test = make_digits_rot(n_train, n_test, seed)
    return {"train": (train["data"], train["labels"]), "test": (test["data"], test["labels"])}


def save_digits_rot(datadir: str, n_train: int = N_TRAIN, n_test: int = N_TEST, n_valid: int = N_VALID,
                    seed: int = DEFAULT_SEED) -> dict:
    """Write the set as train_all.npz (n_train digits), train.npz / valid.npz (its first
    n_train - n_valid / last n_valid) and test.npz into datadir; returns {split: path}."""
    train, test = make_digits_rot(n_train, n_test, seed)
    return save_splits(datadir, train, test, n_valid=n_valid)


def main(argv: "list | None" = None) -> int:
    """Command line: write the demo set into --datadir; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gconv_experiments.MNIST_ROT.digits_rot",
        description="Write the embedded rotated-digits demo set (sklearn 8x8 digits, upscaled "
                    "and randomly rotated) as train_all/train/valid/test .npz files.")
    parser.add_argument("--datadir", required=True, help="output folder for the .npz files")
    parser.add_argument("--n-train", "--n_train", dest="n_train", type=int, default=N_TRAIN,
                        help=f"training digits, written as train_all.npz (default {N_TRAIN})")
    parser.add_argument("--n-test", "--n_test", dest="n_test", type=int, default=N_TEST,
                        help=f"test digits (default {N_TEST})")
    parser.add_argument("--n-valid", "--n_valid", dest="n_valid", type=int, default=N_VALID,
                        help=f"size of valid, the tail of train_all (default {N_VALID})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the split and rotations (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    return run_command(lambda: report_splits(save_digits_rot(args.datadir, args.n_train, args.n_test,
                                                             args.n_valid, args.seed)),
                       "digits_rot", {ValueError: 2, TypeError: 2, OSError: 2})


if __name__ == "__main__":
    sys.exit(main())
