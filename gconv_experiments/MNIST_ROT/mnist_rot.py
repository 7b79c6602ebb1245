"""MNIST-rot data preparation: the official amat files -> npz, or an MNIST-rot-like set built
from the raw MNIST IDX files.

Output (in --datadir): train_all.npz (12,000 images), train.npz (its first 10,000), valid.npz
(its last 2,000) and test.npz (50,000), each with keys ``data`` float32 (N, 1, 28, 28) in [0, 1]
and ``labels`` int32 (N,) in 0..9. The MNIST-rot-like set adds ``angles`` float64 (N,), the
rotation of each digit in radians (counter-clockwise as displayed, see augmentation.rotate), and
``mnist_index`` int64 (N,), its index into MNIST train (0..59999) followed by MNIST test (60000..).

Official files (Larochelle et al. 2007, ``mnist_rotation_new.zip``):
``mnist_all_rotation_normalized_float_train_valid.amat`` (12,000 rows) and
``mnist_all_rotation_normalized_float_test.amat`` (50,000 rows); each row holds 784 pixel values
then the label, separated by whitespace. Orientation: row value k becomes pixel
(k // 28, k % 28), i.e. a C-order reshape to (28, 28), as the original conversion did; no
transpose is applied (the digits may look transposed, which a rotation-invariance benchmark
does not care about).

MNIST-rot-like set (--from-mnist): train_all = 12,000 digits drawn without replacement (fixed
seed) from the 60,000 MNIST training digits; test = 50,000 digits drawn without replacement from
the pool of the 10,000 MNIST test digits plus the 48,000 training digits not in train_all, so
test and train never share a digit. Pixels are scaled to [0, 1] and each digit is rotated by an
angle uniform in [0, 2 pi) with bilinear interpolation and zero fill.

Usage:
    python -m gconv_experiments.MNIST_ROT.mnist_rot --datadir DIR [--source ZIP_OR_DIR]
    python -m gconv_experiments.MNIST_ROT.mnist_rot --datadir DIR --from-mnist MNIST_DIR [--seed S]
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time
import warnings
import zipfile
import zlib
from typing import Iterable

import numpy as np

from gconv_experiments.atomic_file import atomic_path
from gconv_experiments.augmentation import rotate
from gconv_experiments.command_errors import run_command
from gconv_experiments.npz_file import read_arrays

__all__ = ["OFFICIAL_ZIP", "OFFICIAL_TRAIN", "OFFICIAL_TEST", "N_TRAIN_ALL", "N_VALID", "N_TEST", "SPLITS", "IMAGE_SHAPE", "N_PIXELS", "N_CLASSES", "DEFAULT_SEED", "MNIST_FILES", "parse_amat", "read_official", "read_idx", "mnist_file_path", "load_mnist", "make_mnist_rot_like", "write_npz", "save_splits", "load_split", "report_splits", "main"]

OFFICIAL_ZIP = "mnist_rotation_new.zip"
OFFICIAL_TRAIN = "mnist_all_rotation_normalized_float_train_valid.amat"
OFFICIAL_TEST = "mnist_all_rotation_normalized_float_test.amat"
N_TRAIN_ALL, N_VALID, N_TEST = 12000, 2000, 50000
SPLITS = ("train_all", "train", "valid", "test")
IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28
N_CLASSES = 10
DEFAULT_SEED = 0
MNIST_FILES = {  # stem of each raw MNIST file (read as STEM.gz, or STEM uncompressed)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


# ---------------------------------------------------------------- official amat files

def _parse_amat_line(line, name, lineno):
    """Parse one amat row into float64 values, or raise ValueError naming file and line."""
    n_values = N_PIXELS + 1
    try:
        with warnings.catch_warnings():
            # numpy < 2 reports unparsable text only by a DeprecationWarning: make it an error.
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(line, dtype=np.float64, sep=" ")
    except (DeprecationWarning, ValueError):
        raise ValueError(f"{name}, line {lineno}: could not read the row as numbers (expected "
                         f"{n_values} whitespace-separated numbers: {N_PIXELS} pixel values then "
                         "the label)") from None
    if values.size != n_values:
        raise ValueError(f"{name}, line {lineno}: found {values.size} values, expected "
                         f"{n_values} ({N_PIXELS} pixel values then the label)")
    return values


def _parse_amat_block(texts, linenos, name):
    """Parse a block of non-empty rows: numpy's fast loadtxt, then checks; a row that fails is
    re-read on its own so that the error names its line."""
    try:
        table = np.loadtxt(texts, dtype=np.float64, comments=None, ndmin=2)
        if table.shape[1] != N_PIXELS + 1:
            raise ValueError("wrong row length")
    except ValueError:
        table = np.stack([_parse_amat_line(t, name, n) for t, n in zip(texts, linenos)])
    finite = np.isfinite(table)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(f"{name}, line {linenos[row]}, field {col + 1}: value {table[row, col]}, "
                         "expected a finite number")
    labels = table[:, N_PIXELS]
    bad = (labels != np.round(labels)) | (labels < 0) | (labels >= N_CLASSES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}, line {linenos[row]}, field {N_PIXELS + 1} (label): got "
                         f"{labels[row]:g}, expected an integer label in 0..{N_CLASSES - 1}")
    return table.astype(np.float32)


def parse_amat(lines: Iterable, name: str, block_rows: int = 4096) -> dict:
    """Parse amat text lines (784 pixel values then the label per row; blank lines skipped).

    lines: iterable of str; name: the file name used in error messages.
    Returns data float32 (N, 1, 28, 28) (row value k -> pixel (k // 28, k % 28)) and labels int32 (N,).
    """
    tables, texts, linenos = [], [], []
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            if line.strip():
                texts.append(line)
                linenos.append(lineno)
            if len(texts) == block_rows:
                tables.append(_parse_amat_block(texts, linenos, name))
                texts, linenos = [], []
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}, line {lineno + 1}: not a text file ({e.reason}); "
                         "expected rows of whitespace-separated numbers") from None
    except _ARCHIVE_ERRORS as e:
        raise ValueError(f"{name}: corrupt or truncated archive member after line {lineno} ({e})") from None
    if texts:
        tables.append(_parse_amat_block(texts, linenos, name))
    if not tables:
        raise ValueError(f"{name}: no data rows, expected rows of {N_PIXELS + 1} numbers")
    table = np.concatenate(tables)
    data = np.ascontiguousarray(table[:, :N_PIXELS]).reshape((-1,) + IMAGE_SHAPE)
    return data, table[:, N_PIXELS].astype(np.int32)


def _check_rows(data, name, expected):
    if expected and len(data) != expected:
        raise ValueError(f"{name}: found {len(data)} rows, expected {expected}")


def read_official(source: str, n_train_all: "int | None" = N_TRAIN_ALL, n_test: "int | None" = N_TEST) -> tuple:
    """Read the official MNIST-rot files from ``source``: the zip, or a folder holding the two
    amat files or the zip. n_train_all / n_test are the expected row counts (None: any).

    Returns (train_all, test), each a dict with 'data' float32 (N, 1, 28, 28), 'labels' int32 (N,).
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        amats = [os.path.join(source, f) for f in (OFFICIAL_TRAIN, OFFICIAL_TEST)]
        if all(os.path.isfile(p) for p in amats):
            return tuple(_read_amat_file(p, n) for p, n in zip(amats, (n_train_all, n_test)))
        if os.path.isfile(os.path.join(source, OFFICIAL_ZIP)):
            source = os.path.join(source, OFFICIAL_ZIP)
        else:
            raise ValueError(f"{source}: found neither {OFFICIAL_ZIP} nor both "
                             f"{OFFICIAL_TRAIN} and {OFFICIAL_TEST}")
    if not os.path.isfile(source):
        raise ValueError(f"{source}: no such file (expected {OFFICIAL_ZIP} or a folder holding it "
                         "or the two amat files)")
    try:
        with zipfile.ZipFile(source) as zf:
            members = {os.path.basename(m): m for m in zf.namelist()}
            result = []
            for wanted, expected in ((OFFICIAL_TRAIN, n_train_all), (OFFICIAL_TEST, n_test)):
                if wanted not in members:
                    raise ValueError(f"{source}: archive has no member {wanted} "
                                     f"(members: {', '.join(sorted(members)) or 'none'})")
                name = f"{source}:{members[wanted]}"
                with zf.open(members[wanted]) as raw:
                    data, labels = parse_amat(io.TextIOWrapper(raw, encoding="ascii"), name)
                _check_rows(data, name, expected)
                result.append({"data": data, "labels": labels})
    except _ARCHIVE_ERRORS as e:
        raise ValueError(f"{source}: not a readable zip archive ({e}); "
                         f"expected the official {OFFICIAL_ZIP}") from None
    return tuple(result)


def _read_amat_file(path, expected):
    try:
        with open(path, encoding="ascii") as f:
            data, labels = parse_amat(f, path)
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None
    _check_rows(data, path, expected)
    return {"data": data, "labels": labels}


# ---------------------------------------------------------------- raw MNIST IDX files

def read_idx(path: str, kind: str) -> np.ndarray:
    """Read one MNIST IDX file (gzipped if its name ends in .gz); kind is 'images' or 'labels'.

    Returns uint8 images (N, 28, 28) or uint8 labels (N,). Checks magic number and size.
    """
    magic_expected, ndim = _IDX_MAGIC[kind]
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (expected the MNIST {kind} IDX file)") from None
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated file ({e})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an IDX {kind} header ({header} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != magic_expected:
        raise ValueError(f"{path}: magic number 0x{magic:08x}, expected 0x{magic_expected:08x} "
                         f"(IDX unsigned-byte {kind}, {ndim} dimension(s))")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and shape[1:] != (28, 28):
        raise ValueError(f"{path}: images of {shape[1]}x{shape[2]} pixels, expected 28x28")
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(f"{path}: header promises shape {shape} ({size} bytes of data), "
                         f"found {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def mnist_file_path(mnist_dir: str, stem: str) -> str:
    """Path of one raw MNIST file (`stem` + ".gz", or `stem` uncompressed) in `mnist_dir`."""
    for candidate in (stem + ".gz", stem):
        path = os.path.join(mnist_dir, candidate)
        if os.path.isfile(path):
            return path
    raise ValueError(f"{mnist_dir}: missing {stem}.gz (expected the four raw MNIST files "
                     f"{', '.join(s + '.gz' for s in MNIST_FILES.values())})")


def load_mnist(mnist_dir: str) -> dict:
    """Read the four raw MNIST IDX files from a folder.

    Returns {'train': (images uint8 (N, 28, 28), labels int64 (N,)), 'test': (...)}.
    """
    if not os.path.isdir(mnist_dir):
        raise ValueError(f"{mnist_dir}: no such folder (expected the raw MNIST IDX .gz files)")
    result = {}
    for split in ("train", "test"):
        images_path = mnist_file_path(mnist_dir, MNIST_FILES[split + "_images"])
        labels_path = mnist_file_path(mnist_dir, MNIST_FILES[split + "_labels"])
        images = read_idx(images_path, "images")
        labels = read_idx(labels_path, "labels").astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"{labels_path}: {len(labels)} labels, expected {len(images)} "
                             f"(one per image in {images_path})")
        if labels.size and labels.max() >= N_CLASSES:
            bad = int(np.flatnonzero(labels >= N_CLASSES)[0])
            raise ValueError(f"{labels_path}: label {labels[bad]} at item {bad}, "
                             f"expected labels in 0..{N_CLASSES - 1}")
        result[split] = (images, labels)
    return result


def make_mnist_rot_like(mnist_dir: str, seed: int = DEFAULT_SEED, n_train_all: int = N_TRAIN_ALL,
                        n_test: int = N_TEST) -> tuple:
    """Build an MNIST-rot-like (train_all, test) pair from raw MNIST (see the module docstring).

    Each is a dict: 'data' float32 (N, 1, 28, 28) in [0, 1], 'labels' int32 (N,),
    'angles' float64 (N,) in [0, 2 pi), 'mnist_index' int64 (N,). Deterministic given seed.
    """
    mnist = load_mnist(mnist_dir)
    n_mnist_train = len(mnist["train"][1])
    images = np.concatenate([mnist["train"][0], mnist["test"][0]])
    labels = np.concatenate([mnist["train"][1], mnist["test"][1]])
    if not 0 < n_train_all <= n_mnist_train:
        raise ValueError(f"n_train_all={n_train_all}: expected 1..{n_mnist_train} "
                         f"(the number of MNIST training digits in {mnist_dir})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_mnist_train)
    train_index = order[:n_train_all]
    pool = np.concatenate([np.arange(n_mnist_train, len(labels)), order[n_train_all:]])
    if not 0 < n_test <= len(pool):
        raise ValueError(f"n_test={n_test}: expected 1..{len(pool)} (MNIST test digits plus the "
                         f"training digits not used for train_all in {mnist_dir})")
    test_index = rng.choice(pool, size=n_test, replace=False)
    splits = []
    for index in (train_index, test_index):
        angles = rng.uniform(0.0, 2.0 * np.pi, size=len(index))
        digits = images[index][:, None].astype(np.float32) / np.float32(255)
        data = np.clip(rotate(digits, angles), 0.0, 1.0)
        splits.append({"data": data, "labels": labels[index].astype(np.int32),
                       "angles": angles, "mnist_index": index.astype(np.int64)})
    return tuple(splits)


# ---------------------------------------------------------------- npz files

def write_npz(path: str, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed .npz atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez must not append ".npz" to the name
            np.savez(f, **arrays)


def save_splits(datadir: str, train_all: dict, test: dict, n_valid: int = N_VALID) -> dict:
    """Write train_all.npz, train.npz (all but the last n_valid), valid.npz (the last n_valid)
    and test.npz into datadir (created if needed). train_all/test: dicts of equal-length arrays
    with at least 'data' and 'labels'. Returns {split name: path}."""
    n = len(train_all["labels"])
    if not 0 < n_valid < n:
        raise ValueError(f"n_valid={n_valid}: expected 1..{n - 1} (train_all has {n} images)")
    os.makedirs(datadir, exist_ok=True)
    parts = {"train_all": train_all,
             "train": {k: v[:n - n_valid] for k, v in train_all.items()},
             "valid": {k: v[n - n_valid:] for k, v in train_all.items()},
             "test": test}
    paths = {}
    for name in SPLITS:
        paths[name] = os.path.join(datadir, name + ".npz")
        write_npz(paths[name], **parts[name])
    return paths


def load_split(datadir: str, name: str) -> tuple:
    """Load datadir/<name>.npz (name in SPLITS, or a file name ending in .npz) written by this
    module; returns (data float32 (N, 1, 28, 28), labels int32 (N,)) after checking both."""
    path = os.path.join(datadir, name if name.endswith(".npz") else name + ".npz")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (prepare the data with "
                         "python -m gconv_experiments.MNIST_ROT.mnist_rot --datadir DIR)")
    arrays = read_arrays(path, ("data", "labels"))
    data, labels = arrays["data"], arrays["labels"]
    if data.dtype != np.float32 or data.ndim != 4 or data.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{path}: 'data' has shape {data.shape} and dtype {data.dtype}, "
                         f"expected float32 (N, {', '.join(map(str, IMAGE_SHAPE))})")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' has shape {labels.shape} and dtype {labels.dtype}, "
                         f"expected integers of shape ({len(data)},)")
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"{path}: labels range {labels.min()}..{labels.max()}, "
                         f"expected 0..{N_CLASSES - 1}")
    return data, labels.astype(np.int32)


# ---------------------------------------------------------------- command line

def report_splits(paths: dict) -> None:
    """Print one line per written split {name: path}: its images and label counts."""
    for name, path in paths.items():
        labels = read_arrays(path, ("labels",))["labels"]
        counts = np.bincount(labels, minlength=N_CLASSES)
        print(f"wrote {path}: {len(labels)} images, label counts {counts.tolist()}")


def main(argv: "list | None" = None) -> int:
    """Command line: write the MNIST-rot(-like) splits into --datadir; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gconv_experiments.MNIST_ROT.mnist_rot",
        description="Convert the official MNIST-rot files, or build an MNIST-rot-like set from "
                    "raw MNIST, into train_all/train/valid/test .npz files in --datadir.")
    parser.add_argument("--datadir", required=True, help="output folder for the .npz files")
    parser.add_argument("--source", default=None,
                        help=f"{OFFICIAL_ZIP}, or a folder holding it or its two .amat files "
                             "(default: --datadir)")
    parser.add_argument("--from-mnist", "--from_mnist", dest="from_mnist", default=None, metavar="DIR",
                        help="build an MNIST-rot-like set from the four raw MNIST IDX .gz files in DIR")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the digit draw and rotations for --from-mnist (default {DEFAULT_SEED})")
    parser.add_argument("--n-train-all", "--n_train_all", dest="n_train_all", type=int, default=N_TRAIN_ALL,
                        help="train_all size to build (--from-mnist) or the row count to expect "
                             f"(0: any) in the official file (default {N_TRAIN_ALL})")
    parser.add_argument("--n-valid", "--n_valid", dest="n_valid", type=int, default=N_VALID,
                        help=f"size of valid, the tail of train_all (default {N_VALID})")
    parser.add_argument("--n-test", "--n_test", dest="n_test", type=int, default=N_TEST,
                        help="test size to build (--from-mnist) or the row count to expect "
                             f"(0: any) in the official file (default {N_TEST})")
    args = parser.parse_args(argv)
    if args.from_mnist is not None and args.source is not None:
        parser.error("give either --source or --from-mnist, not both")
    return run_command(lambda: _build(args), "mnist_rot", {ValueError: 2, TypeError: 2, OSError: 2})


def _build(args):
    """Write the splits the command line `args` asks for and report them."""
    start = time.time()
    if args.from_mnist is not None:
        train_all, test = make_mnist_rot_like(args.from_mnist, seed=args.seed,
                                              n_train_all=args.n_train_all, n_test=args.n_test)
    else:
        train_all, test = read_official(args.source or args.datadir,
                                        n_train_all=args.n_train_all or None,
                                        n_test=args.n_test or None)
    paths = save_splits(args.datadir, train_all, test, n_valid=args.n_valid)
    report_splits(paths)
    print(f"done in {time.time() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
