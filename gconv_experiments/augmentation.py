"""Batch data augmentation for image arrays of shape (N, C, H, W) (numpy in, numpy out).

Every random transformation takes an explicit ``numpy.random.Generator`` so that a training
loop can checkpoint and restore its state; nothing here touches numpy's global RNG.

Geometry convention: row 0 is the top of the displayed image and column 0 its left edge.
A positive angle rotates the picture counter-clockwise as displayed, about the image centre
((H - 1) / 2, (W - 1) / 2); ``rotate(x, k * pi / 2)`` equals ``np.rot90(x, k, axes=(2, 3))``
on square images (and ``scipy.ndimage.rotate(img, degrees, reshape=False)`` in general).

Names accepted by ``--transformations`` (comma-separated, applied left to right):

  rotation     rotate each image by an angle uniform in [0, 2 pi), bilinear, zero fill
  rot90        rotate each image by a random multiple of 90 degrees (exact; square images)
  hflip        mirror each image left-right with probability 1/2
  dihedral     apply one of the 8 elements of D4 (4 rotations x optional mirror) per image
  translation  shift each image by integers (dy, dx) uniform in [-4, 4], zero padding
"""
from __future__ import annotations

import numpy as np

# Interpolation is done in chunks of at most this many output pixels (bounds temporary memory).
_CHUNK_PIXELS = 1 << 22
# Source coordinates this close to an integer are snapped to it, so that rotations by
# multiples of 90 degrees copy pixels exactly instead of picking up 1e-16 interpolation noise.
_SNAP = 1e-9


def _check_batch(x, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy ndarray of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {x.shape}")
    return x


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def _sample(x, rows, cols, order):
    """Sample images x (n, C, H, W) at source coordinates rows/cols (n, H, W); outside is zero."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    if order == 0:
        taps = [(np.floor(rows + 0.5), np.floor(cols + 0.5), None)]
    else:
        r0, c0 = np.floor(rows), np.floor(cols)
        dr, dc = rows - r0, cols - c0
        taps = [(r0, c0, (1 - dr) * (1 - dc)), (r0, c0 + 1, (1 - dr) * dc),
                (r0 + 1, c0, dr * (1 - dc)), (r0 + 1, c0 + 1, dr * dc)]
    out = np.zeros((n, c, h * w), dtype=np.float64)
    for r, q, weight in taps:
        inside = (r >= 0) & (r <= h - 1) & (q >= 0) & (q <= w - 1)
        index = np.where(inside, r * w + q, 0).astype(np.intp).reshape(n, 1, h * w)
        weight = inside if weight is None else np.where(inside, weight, 0.0)
        out += weight.reshape(n, 1, h * w) * np.take_along_axis(flat, index, axis=2)
    return out.reshape(n, c, h, w)


def rotate(x, angles, order=1):
    """Rotate each image of x (N, C, H, W) by its own angle (radians, counter-clockwise as
    displayed) about the image centre; bilinear (order=1) or nearest (order=0), zero fill.

    angles: scalar or shape (N,). Returns an array of x's shape and (floating) dtype.
    Vectorised over the batch (no Python loop over images).
    """
    x = _check_batch(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"rotate needs a floating-point x, got dtype {x.dtype}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    n, c, h, w = x.shape
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim == 0:
        angles = np.full(n, float(angles))
    if angles.shape != (n,):
        raise ValueError(f"angles must be a scalar or have shape ({n},) to match x {x.shape}, "
                         f"got shape {angles.shape}")
    ci, cj = (h - 1) / 2.0, (w - 1) / 2.0
    di, dj = np.meshgrid(np.arange(h) - ci, np.arange(w) - cj, indexing="ij")
    out = np.empty_like(x)
    step = max(1, _CHUNK_PIXELS // max(1, c * h * w))
    for start in range(0, n, step):
        a = angles[start:start + step, None, None]
        cos, sin = np.cos(a), np.sin(a)
        # Inverse map: output offset (di, dj) reads input offset R(-angle) applied in the
        # displayed frame (x = column, y = -row).
        rows = ci + cos * di + sin * dj
        cols = cj - sin * di + cos * dj
        for coords in (rows, cols):
            nearest = np.round(coords)
            snap = np.abs(coords - nearest) < _SNAP
            coords[snap] = nearest[snap]
        out[start:start + step] = _sample(x[start:start + step], rows, cols, order)
    return out


def random_rotation(x, rng):
    """Rotate each image by an angle uniform in [0, 2 pi) (bilinear, zero fill)."""
    x = _check_batch(x)
    angles = _check_rng(rng).uniform(0.0, 2.0 * np.pi, size=x.shape[0])
    return rotate(x, angles)


def _rot90_each(x, ks):
    """Rotate image i of x by ks[i] quarter turns counter-clockwise (exact)."""
    if x.shape[2] != x.shape[3] and np.any(ks % 2 == 1):
        raise ValueError(f"90-degree rotations need square images, got x of shape {x.shape}")
    out = np.empty_like(x)
    for k in range(4):
        sel = ks == k
        out[sel] = np.rot90(x[sel], k, axes=(2, 3))
    return out


def random_rot90(x, rng):
    """Rotate each image by a multiple of 90 degrees drawn uniformly from {0, 1, 2, 3}."""
    x = _check_batch(x)
    return _rot90_each(x, _check_rng(rng).integers(0, 4, size=x.shape[0]))


def random_hflip(x, rng):
    """Mirror each image left-right (reverse the column axis) with probability 1/2."""
    x = _check_batch(x)
    flip = _check_rng(rng).random(x.shape[0]) < 0.5
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)


def random_dihedral(x, rng):
    """Apply one of the 8 elements of D4 per image, index e = 4 m + r uniform in 0..7:
    rotate by r quarter turns counter-clockwise, then mirror left-right if m = 1."""
    x = _check_batch(x)
    e = _check_rng(rng).integers(0, 8, size=x.shape[0])
    out = _rot90_each(x, e % 4)
    return np.where((e // 4 == 1)[:, None, None, None], out[:, :, :, ::-1], out)


def random_translation(x, rng, max_shift=4):
    """Shift each image by integers (dy, dx), each uniform in [-max_shift, max_shift]
    (content moves down by dy and right by dx); vacated pixels are zero."""
    x = _check_batch(x)
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer, got {max_shift!r}")
    s = int(max_shift)
    n, c, h, w = x.shape
    shifts = _check_rng(rng).integers(-s, s + 1, size=(2, n))
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    rows = np.arange(h)[None, :] + s - shifts[0][:, None]  # (N, H)
    cols = np.arange(w)[None, :] + s - shifts[1][:, None]  # (N, W)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


TRANSFORMATIONS = {
    "rotation": random_rotation,
    "rot90": random_rot90,
    "hflip": random_hflip,
    "dihedral": random_dihedral,
    "translation": random_translation,
}


def parse_transformations(spec):
    """Validate a ``--transformations`` string and return its names as a tuple.

    '' (or None) means no augmentation; otherwise comma-separated names from TRANSFORMATIONS,
    e.g. 'rotation' or 'translation,hflip'. Unknown names raise ValueError listing the valid ones.
    """
    if spec is None:
        return ()
    if not isinstance(spec, str):
        raise TypeError(f"transformations must be a string such as 'rotation', got {type(spec).__name__}")
    names = tuple(part.strip() for part in spec.split(",")) if spec.strip() else ()
    bad = [name for name in names if name not in TRANSFORMATIONS]
    if bad:
        raise ValueError(f"unknown transformation(s) {', '.join(repr(b) for b in bad)} in {spec!r}; "
                         f"valid names (comma-separated, '' for none): {', '.join(TRANSFORMATIONS)}")
    return names


def apply_transformations(x, spec, rng):
    """Apply the transformations named in spec (see parse_transformations), in order, to the
    batch x (N, C, H, W) using rng; returns x itself when spec names none."""
    names = parse_transformations(spec)
    x = _check_batch(x)
    _check_rng(rng)
    for name in names:
        x = TRANSFORMATIONS[name](x, rng)
    return x
