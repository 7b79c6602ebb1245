"""A picture of generated digits: a grid with one row per class (the first ``per_class``
images of each label), written atomically as a PNG."""
from __future__ import annotations

import numpy

from gconv_experiments import atomic_file

__all__ = ["grid", "save_grid"]


def grid(images: numpy.ndarray, labels: numpy.ndarray, per_class: int = 10) -> numpy.ndarray:
    """A (rows * 28, per_class * 28) array in [0, 1] from images (N, 1, 28, 28) in [0, 1]:
    row k holds the first ``per_class`` images labelled k (blank where there are fewer).

    >>> grid(numpy.ones((3, 1, 28, 28)), numpy.array([0, 1, 1]), per_class=2).shape
    (56, 56)
    """
    images, labels = numpy.asarray(images), numpy.asarray(labels)
    rows = int(labels.max()) + 1 if labels.size else 0
    h, w = images.shape[-2:]
    out = numpy.zeros((rows * h, per_class * w), numpy.float32)
    for k in range(rows):
        for j, i in enumerate(numpy.flatnonzero(labels == k)[:per_class]):
            out[k * h:(k + 1) * h, j * w:(j + 1) * w] = images[i, 0]
    return numpy.clip(out, 0, 1)


def save_grid(path: str, images: numpy.ndarray, labels: numpy.ndarray, per_class: int = 10) -> None:
    """Write :func:`grid` of the images to the PNG file ``path`` (grey levels)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with atomic_file.atomic_path(path) as tmp:
        plt.imsave(tmp, grid(images, labels, per_class), cmap="gray", vmin=0, vmax=1)
