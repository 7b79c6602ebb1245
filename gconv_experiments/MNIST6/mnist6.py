"""MNIST6-180 / MNIST6-M from the raw MNIST IDX files.

Romero & Lohit ("Learning Partial Equivariances from Data", NeurIPS 2022, arXiv:2110.10211)
built two binary tasks on which full rotation (or mirror) invariance is harmful:

* MNIST6-180 (``--variant rot180``): every six of the MNIST training set once as it is
  (label 0) and once rotated by 180 degrees (label 1); the test set the same from MNIST's test
  sixes. MNIST has 5,918 training and 958 test sixes, so 11,836 training and 1,916 test
  images (the paper's 11,836).
* MNIST6-M (``--variant mirror``): the same with a horizontal mirror image (left and right
  swapped, ``numpy.flip(image, axis=-1)``) instead of the rotation.

In each split the untransformed sixes come first, in MNIST order, then their transformed
copies in the same order. Pixels are scaled to [0, 1] (value / 255); a 180-degree rotation and
a mirror of a 28x28 image are exact pixel permutations, so no interpolation is involved and the
build is deterministic: rebuilding gives byte-identical files (the .npz members carry a fixed
time stamp).

Output (in --datadir): train_all.npz and test.npz, each with ``data`` float32 (N, 1, 28, 28)
in [0, 1], ``labels`` int32 (N,) in {0, 1} and ``mnist_index`` int64 (N,) (the image's index in
MNIST's training or test file), the format MNIST_ROT/train.py reads:

    python -m gconv_experiments.MNIST6.mnist6 --from-mnist ../shared/data/mnist \\
        --datadir MNIST6/data180 --variant rot180
    python -m gconv_experiments.MNIST_ROT.train --modelfn PartialP4CNN \\
        --datadir MNIST6/data180 --net_kwargs "{'n_classes': 2}"
"""
from __future__ import annotations

import argparse
import os
import sys
import zipfile
from typing import Dict, Tuple

import numpy as np

from gconv_experiments.atomic_file import atomic_path
from gconv_experiments.MNIST_ROT.mnist_rot import load_mnist

__all__ = ["VARIANTS", "SIX", "transform", "make_split", "make_mnist6", "write_npz", "save",
           "main"]

#: variant name -> what the label-1 copy of each six is
VARIANTS = {"rot180": "rotated by 180 degrees", "mirror": "mirrored left-right"}
SIX = 6
SPLITS = ("train_all", "test")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest zip time stamp: a fixed one, for identical bytes


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {', '.join(map(repr, VARIANTS))}")
    return variant


def transform(images: np.ndarray, variant: str) -> np.ndarray:
    """The label-1 copies of ``images`` (..., 28, 28): rotated by 180 degrees ('rot180') or
    mirrored left-right ('mirror')."""
    check_variant(variant)
    if variant == "rot180":
        return np.ascontiguousarray(np.rot90(images, 2, axes=(-2, -1)))
    return np.ascontiguousarray(np.flip(images, axis=-1))


def make_split(images: np.ndarray, labels: np.ndarray, variant: str, name: str = "MNIST"
               ) -> Dict[str, np.ndarray]:
    """The split of one MNIST part: uint8 images (N, 28, 28) and labels (N,) -> dict with
    'data' float32 (2 S, 1, 28, 28), 'labels' int32 (S zeros, then S ones) and 'mnist_index'
    int64, S the number of sixes. ``name`` (the source file) is used in errors."""
    check_variant(variant)
    index = np.flatnonzero(labels == SIX)
    if index.size == 0:
        raise ValueError(f"{name}: no image labelled {SIX} (expected MNIST digits)")
    sixes = images[index]
    both = np.concatenate([sixes, transform(sixes, variant)])
    data = (both[:, None].astype(np.float32) / np.float32(255))
    return {"data": data,
            "labels": np.repeat(np.arange(2, dtype=np.int32), len(index)),
            "mnist_index": np.concatenate([index, index]).astype(np.int64)}


def make_mnist6(mnist_dir: str, variant: str) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """(train_all, test) of MNIST6-180 ('rot180') or MNIST6-M ('mirror') from the four raw
    MNIST files in ``mnist_dir`` (see the module docstring)."""
    check_variant(variant)
    mnist = load_mnist(mnist_dir)
    return tuple(make_split(*mnist[part], variant, name=f"{mnist_dir} ({part} labels)")
                 for part in ("train", "test"))


def write_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to an uncompressed .npz, atomically and byte-reproducibly (members in
    the given order, each with a fixed time stamp)."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for key, value in arrays.items():
                info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(value), allow_pickle=False)


def save(datadir: str, train_all: Dict[str, np.ndarray], test: Dict[str, np.ndarray]
         ) -> Dict[str, str]:
    """Write train_all.npz and test.npz into ``datadir`` (created if needed); returns the
    paths by split name."""
    os.makedirs(datadir, exist_ok=True)
    paths = {}
    for name, arrays in zip(SPLITS, (train_all, test)):
        paths[name] = os.path.join(datadir, name + ".npz")
        write_npz(paths[name], arrays)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gconv_experiments.MNIST6.mnist6",
        description="Build MNIST6-180 (--variant rot180) or MNIST6-M (--variant mirror) from the "
                    "raw MNIST IDX files: train_all.npz and test.npz in --datadir.")
    parser.add_argument("--from-mnist", "--from_mnist", dest="from_mnist", required=True,
                        metavar="DIR", help="folder of the four raw MNIST IDX .gz files")
    parser.add_argument("--datadir", required=True, help="output folder for the .npz files")
    parser.add_argument("--variant", required=True, metavar="|".join(VARIANTS),
                        help="; ".join(f"{k}: the label-1 copy is {v}" for k, v in VARIANTS.items()))
    args = parser.parse_args(argv)
    try:
        train_all, test = make_mnist6(args.from_mnist, args.variant)
        paths = save(args.datadir, train_all, test)
    except (ValueError, OSError) as e:
        message = str(e).replace("variant ", "--variant ", 1) if str(e).startswith("variant ") else e
        print(f"error: {message}", file=sys.stderr)
        return 2
    for name, arrays in zip(SPLITS, (train_all, test)):
        counts = np.bincount(arrays["labels"], minlength=2).tolist()
        print(f"wrote {paths[name]}: {len(arrays['labels'])} images (label 0: {counts[0]}, "
              f"label 1 {VARIANTS[args.variant]}: {counts[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
