"""The class accuracy of generated images as judged by the published P4CNN
(results/mnist_rot/released/P4CNN/seed0): the fraction of images whose predicted digit is the
label they were generated for. The network is loaded with
:func:`gconv_experiments.MNIST_ROT.evaluate.load_run`, its input normalisation with
``evaluate.input_normalization`` (which reads the run's training file from the data folder and
checks its sha256).
"""
from __future__ import annotations

import os

import numpy

import chainer

from gconv_experiments.MNIST_ROT import evaluate

__all__ = ["Judge", "DEFAULT_RUN"]

#: the published P4CNN run folder of this repository
DEFAULT_RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "results", "mnist_rot", "released", "P4CNN", "seed0")


class Judge:
    """A trained MNIST-rot classifier with its input normalisation (shift, scale).

    Build it with :meth:`from_run`; :meth:`accuracy` of images (N, 1, 28, 28) in [0, 1].
    """

    DEFAULT_RUN = DEFAULT_RUN

    def __init__(self, model, shift: float, scale: float):
        self.model, self.shift, self.scale = model, float(shift), float(scale)

    @classmethod
    def from_run(cls, folder: str, datadir: str) -> "Judge":
        """The model of the run folder ``folder``, normalised with the training file of
        ``datadir``; ValueError naming the file when something is missing or does not fit."""
        try:
            model, record = evaluate.load_run(folder)
            shift, scale = evaluate.input_normalization(record, datadir)
        except Exception as e:  # ConfigError of the training package, OSError, KeyError
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise ValueError(f"judge run {folder}: {e}") from None
        return cls(model, shift, scale)

    def predict(self, images: numpy.ndarray, batchsize: int = 500) -> numpy.ndarray:
        """Predicted labels int (N,) of images float32 (N, 1, 28, 28) in [0, 1]."""
        out = []
        with chainer.using_config("train", False), chainer.no_backprop_mode():
            for i in range(0, len(images), batchsize):
                x = (numpy.asarray(images[i:i + batchsize], numpy.float32) - self.shift) / self.scale
                out.append(self.model.logits(x.astype(numpy.float32)).array.argmax(axis=1))
        return numpy.concatenate(out) if out else numpy.zeros(0, numpy.int64)

    def accuracy(self, images: numpy.ndarray, labels: numpy.ndarray) -> float:
        """Fraction of ``images`` classified as their ``labels``."""
        return float((self.predict(images) == numpy.asarray(labels)).mean())
