"""Batch data augmentation for image arrays of shape (N, C, H, W) (numpy in, numpy out), with
the transformations of the release (gconv_experiments/augmentation.py of
tscohen/gconv_experiments ca88c58) under the names its train.py scripts used.

Every random transformation takes an explicit ``numpy.random.Generator`` so that a training
loop can checkpoint and restore its state; nothing here touches numpy's global RNG.

Geometry convention: row 0 is the top of the displayed image and column 0 its left edge.
A positive angle rotates the picture counter-clockwise as displayed, about the image centre
((H - 1) / 2, (W - 1) / 2), as ``skimage.transform.rotate`` does; ``rotate(x, k * pi / 2)``
equals ``np.rot90(x, k, axes=(2, 3))`` on square images.

Names accepted by ``--transformations`` (comma-separated, applied left to right); see
``DESCRIPTIONS`` and gconv_experiments/FIDELITY.md::

  rotation            AS RELEASED: an angle r uniform in [-pi, pi] is passed to
                      skimage.transform.rotate, whose angle is in degrees, so each image is
                      rotated by at most +-3.14 degrees (bilinear, zero fill)
  uniform_rotation    a true uniform rotation, angle in [0, 2 pi) (bilinear, zero fill)
  translate           shift by (dy, dx), each uniform in [-2, 2] pixels (continuous), cubic
                      spline interpolation, reflected borders (scipy.ndimage.shift)
  hflip               mirror left-right with probability 1/2
  flip                identity, up-down or left-right mirror, 1/3 each
  dihedral            one of the 8 elements of D4, uniformly
  translate_hflip     hflip, then translate (the CIFAR10+ augmentation)
  translate_dihedral  dihedral, then translate
  rot90               a random multiple of 90 degrees (not in the release)
"""

import numpy as np
from scipy import ndimage

__all__ = ["MAX_SHIFT", "rotate", "release_rotation", "uniform_rotation", "shift_images", "translate", "random_rot90", "hflip", "flip", "dihedral", "translate_hflip", "translate_dihedral", "TRANSFORMATIONS", "DESCRIPTIONS", "help_text", "parse_transformations", "apply_transformations"]

# Interpolation is done in chunks of at most this many output pixels (bounds temporary memory).
_CHUNK_PIXELS = 1 << 22
# Source coordinates this close to an integer are snapped to it, so that rotations by
# multiples of 90 degrees copy pixels exactly instead of picking up 1e-16 interpolation noise.
_SNAP = 1e-9
#: the release's translate: shifts uniform in [-MAX_SHIFT, MAX_SHIFT] ((rand - 0.5) * 4)
MAX_SHIFT = 2.0


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


def rotate(x: np.ndarray, angles: np.ndarray, order: int = 1) -> np.ndarray:
    """Rotate each image of x (N, C, H, W) by its own angle (radians, counter-clockwise as
    displayed) about the image centre; bilinear (order=1) or nearest (order=0), zero fill --
    the interpolation of ``skimage.transform.rotate(img, degrees)`` with its defaults
    (order 1, mode 'constant', cval 0), vectorised over the batch.

    angles: scalar or shape (N,). Returns an array of x's shape and (floating) dtype.
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


def release_rotation(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``rotation`` (rotate_transform_batch with rotation=2 pi): r uniform in
    [-pi, pi] given to skimage.transform.rotate as DEGREES, i.e. a rotation by r degrees
    (at most +-3.14 degrees), bilinear, zero fill. (The release rotated channel 0 only and
    left the others uninitialised; here every channel gets the image's rotation.)"""
    x = _check_batch(x)
    degrees = _check_rng(rng).uniform(-np.pi, np.pi, size=x.shape[0])
    return rotate(x, np.deg2rad(degrees))


def uniform_rotation(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by an angle uniform in [0, 2 pi) radians (bilinear, zero fill)."""
    x = _check_batch(x)
    angles = _check_rng(rng).uniform(0.0, 2.0 * np.pi, size=x.shape[0])
    return rotate(x, angles)


def shift_images(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift image i of x (N, C, H, W) by shifts[i] = (dy, dx) pixels (content moves down by dy
    and right by dx), each channel with scipy.ndimage.shift(order=3, mode='reflect'): cubic
    spline interpolation, borders filled by reflecting the image about its edge."""
    x = _check_batch(x)
    shifts = np.asarray(shifts, dtype=np.float64)
    if shifts.shape != (x.shape[0], 2):
        raise ValueError(f"shifts must have shape ({x.shape[0]}, 2) to match x {x.shape}, "
                         f"got shape {shifts.shape}")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            ndimage.shift(x[i, c], shift=shifts[i], output=out[i, c], order=3, mode="reflect")
    return out


def translate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``translate``: shift each image by (dy, dx), each uniform in [-2, 2]
    pixels, cubic spline, reflected borders (see shift_images)."""
    x = _check_batch(x)
    return shift_images(x, _check_rng(rng).uniform(-MAX_SHIFT, MAX_SHIFT, size=(x.shape[0], 2)))


def _rot90_each(x, ks):
    """Rotate image i of x by ks[i] quarter turns counter-clockwise (exact)."""
    if x.shape[2] != x.shape[3] and np.any(ks % 2 == 1):
        raise ValueError(f"90-degree rotations need square images, got x of shape {x.shape}")
    out = np.empty_like(x)
    for k in range(4):
        sel = ks == k
        out[sel] = np.rot90(x[sel], k, axes=(2, 3))
    return out


def random_rot90(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by a multiple of 90 degrees drawn uniformly from {0, 1, 2, 3}."""
    x = _check_batch(x)
    return _rot90_each(x, _check_rng(rng).integers(0, 4, size=x.shape[0]))


def hflip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``hflip``: mirror each image left-right (reverse the columns) with
    probability 1/2."""
    x = _check_batch(x)
    flip = _check_rng(rng).integers(0, 2, size=x.shape[0]) == 1
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)


def flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``flip``: per image, g uniform in {0, 1, 2}: 0 keeps it, 1 mirrors it
    up-down (reverses the rows), 2 mirrors it left-right (reverses the columns)."""
    x = _check_batch(x)
    g = _check_rng(rng).integers(0, 3, size=x.shape[0])[:, None, None, None]
    return np.where(g == 1, x[:, :, ::-1, :], np.where(g == 2, x[:, :, :, ::-1], x))


# The release's D4 elements in its order g = 0..7, as maps of a (C, n, n) image:
# rotations by 0, 1, 2, 3 quarter turns counter-clockwise (np.rot90), then left-right mirror,
# anti-transpose, up-down mirror, transpose.
_D4 = (
    lambda a: a,
    lambda a: np.rot90(a, 1, axes=(1, 2)),
    lambda a: np.rot90(a, 2, axes=(1, 2)),
    lambda a: np.rot90(a, 3, axes=(1, 2)),
    lambda a: a[:, :, ::-1],
    lambda a: a[:, ::-1, ::-1].transpose(0, 2, 1),
    lambda a: a[:, ::-1, :],
    lambda a: a.transpose(0, 2, 1),
)


def dihedral(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``dihedral``: one of the 8 elements of D4 per image, g uniform in 0..7
    (the release's order, see _D4); square images only."""
    x = _check_batch(x)
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"dihedral needs square images, got x of shape {x.shape}")
    g = _check_rng(rng).integers(0, 8, size=x.shape[0])
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _D4[g[i]](x[i])
    return out


def translate_hflip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``translate_hflip``: hflip, then translate."""
    return translate(hflip(x, rng), rng)


def translate_dihedral(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The release's ``translate_dihedral``: dihedral, then translate."""
    return translate(dihedral(x, rng), rng)


TRANSFORMATIONS = {
    "rotation": release_rotation,
    "uniform_rotation": uniform_rotation,
    "translate": translate,
    "hflip": hflip,
    "flip": flip,
    "dihedral": dihedral,
    "translate_hflip": translate_hflip,
    "translate_dihedral": translate_dihedral,
    "rot90": random_rot90,
}
DESCRIPTIONS = {
    "rotation": "as released: r uniform in [-pi, pi] read as DEGREES, i.e. at most +-3.14 deg",
    "uniform_rotation": "true uniform rotation, angle in [0, 2 pi) radians",
    "translate": "continuous shift uniform in [-2, 2] px, cubic spline, reflected borders",
    "hflip": "left-right mirror with probability 1/2",
    "flip": "identity / up-down / left-right mirror, 1/3 each",
    "dihedral": "uniform element of D4 (rotations by 90 deg and mirrors)",
    "translate_hflip": "hflip then translate (CIFAR10+)",
    "translate_dihedral": "dihedral then translate",
    "rot90": "random multiple of 90 degrees (not in the release)",
}


def help_text() -> str:
    """One line per name, for --help."""
    return "; ".join(f"{name} = {text}" for name, text in DESCRIPTIONS.items())


def parse_transformations(spec: "str | tuple | None") -> tuple:
    """Validate a ``--transformations`` string and return its names as a tuple.

    '' (or None) means no augmentation; otherwise comma-separated names from TRANSFORMATIONS,
    e.g. 'rotation' or 'hflip,translate' (a tuple of names, as returned, is returned as it is).
    Unknown names raise ValueError listing the valid ones.

    >>> parse_transformations("translate, hflip")
    ('translate', 'hflip')
    """
    if spec is None:
        return ()
    if isinstance(spec, tuple):  # names parsed before (a run's configuration): checked again only
        names = spec
    elif not isinstance(spec, str):
        raise TypeError(f"transformations must be a string such as 'rotation', got {type(spec).__name__}")
    else:
        names = tuple(part.strip() for part in spec.split(",")) if spec.strip() else ()
    bad = [name for name in names if name not in TRANSFORMATIONS]
    if bad:
        raise ValueError(f"unknown transformation(s) {', '.join(repr(b) for b in bad)} in {spec!r}; "
                         f"valid names (comma-separated, '' for none): {', '.join(TRANSFORMATIONS)}")
    return names


def apply_transformations(x: np.ndarray, spec: "str | tuple | None", rng: np.random.Generator) -> np.ndarray:
    """Apply the transformations named in spec (see parse_transformations), in order, to the
    batch x (N, C, H, W) using rng; returns x itself when spec names none."""
    names = parse_transformations(spec)
    x = _check_batch(x)
    _check_rng(rng)
    for name in names:
        x = TRANSFORMATIONS[name](x, rng)
    return x
