"""Snapshots of a GAN run: both models (parameters and persistents: the spectral-normalisation
vectors ``W_u``, the BN running statistics), both optimisers (Adam moments and step counts) and
the number of finished G steps, in one HDF5 file written atomically (a crash leaves the previous
snapshot). The random state needs no saving: each G step reseeds from (seed, step).
"""
from __future__ import annotations

import os

import h5py
import numpy  # noqa: F401 (docstring example)

import chainer

from gconv_experiments import atomic_file

__all__ = ["save_snapshot", "load_snapshot", "snapshot_step"]

_PARTS = ("gen", "dis", "opt_gen", "opt_dis")


def save_snapshot(path: str, step: int, gen, dis, opt_gen, opt_dis) -> None:
    """Write the state after ``step`` finished G steps to ``path`` atomically."""
    with atomic_file.atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["step"] = int(step)
            for name, obj in zip(_PARTS, (gen, dis, opt_gen, opt_dis)):
                chainer.serializers.HDF5Serializer(f.create_group(name)).save(obj)


def snapshot_step(path: str) -> int:
    """The number of finished G steps stored in the snapshot ``path``."""
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs["step"])
    except (OSError, KeyError) as e:
        raise ValueError(f"{path}: not a GAN snapshot ({e})") from None


def load_snapshot(path: str, gen, dis, opt_gen, opt_dis) -> int:
    """Restore the models and optimisers (set up on the models) from ``path``; returns the
    number of finished G steps. ValueError naming the file when it does not fit the models.

    >>> import tempfile
    >>> from gconv_experiments.GAN.discriminator import Discriminator
    >>> models = [Discriminator('p4', ch=2), Discriminator('p4', ch=2)]
    >>> opts = [chainer.optimizers.Adam().setup(m) for m in models]
    >>> x, y = numpy.ones((1, 1, 8, 8), numpy.float32), numpy.zeros(1, numpy.int32)
    >>> for m, o in zip(models, opts):  # one update: Adam has state to save
    ...     o.update(lambda: chainer.functions.sum(m(x, y)))
    >>> path = os.path.join(tempfile.mkdtemp(), 'snapshot.h5')
    >>> save_snapshot(path, 7, *models, *opts)
    >>> fresh = [Discriminator('p4', ch=2), Discriminator('p4', ch=2)]
    >>> load_snapshot(path, *fresh, *[chainer.optimizers.Adam().setup(m) for m in fresh])
    7
    >>> bool((fresh[0].conv1.W_u == models[0].conv1.W_u).all())
    True
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    step = snapshot_step(path)
    try:
        with h5py.File(path, "r") as f:
            for name, obj in zip(_PARTS, (gen, dis, opt_gen, opt_dis)):
                chainer.serializers.HDF5Deserializer(f[name]).load(obj)
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: does not fit the models of this run ({e})") from None
    return step
