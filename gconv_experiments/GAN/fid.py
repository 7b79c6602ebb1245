"""Fréchet distance (FID, Heusel et al. 2017) between generated images and the MNIST-rot-like
test set, on the 128 penultimate features of the fixed network of
:mod:`gconv_experiments.GAN.fid_net` (why that network: see its docstring).

``FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` with the feature means mu and
covariances S (ddof 1) of the two sets. The reference statistics of the test set (50,000 images)
are computed once and may be cached in a file, keyed by the sha256 of the test file and of the
network's weights.
"""
from __future__ import annotations

import os
import warnings

import numpy
import scipy.linalg

import chainer

from gconv_experiments import atomic_file
from gconv_experiments.GAN.fid_net import DEFAULT_DIR, load_fid_net, sha256_of
from gconv_experiments.MNIST_ROT import mnist_rot

__all__ = ["frechet_distance", "statistics", "features", "FIDMeasure"]


def statistics(feats: numpy.ndarray) -> tuple:
    """(mean (D,), covariance (D, D), ddof 1) of features (N, D), N >= 2, in float64.

    >>> mu, s = statistics(numpy.array([[0., 1.], [2., 3.]]))
    >>> mu.tolist(), s.tolist()
    ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    feats = numpy.asarray(feats, numpy.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"statistics: expected features (N >= 2, D), got shape {feats.shape}")
    return feats.mean(axis=0), numpy.cov(feats, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The Fréchet distance of the Gaussians N(mu1, sigma1) and N(mu2, sigma2) (float64). Where
    sigma1 sigma2 is too singular for a finite square root, eps is added to both diagonals.

    >>> frechet_distance(numpy.zeros(2), numpy.eye(2), numpy.ones(2), 4 * numpy.eye(2))
    4.0
    """
    mu1, mu2 = numpy.atleast_1d(numpy.asarray(mu1, numpy.float64)), numpy.atleast_1d(
        numpy.asarray(mu2, numpy.float64))
    s1, s2 = numpy.atleast_2d(numpy.asarray(sigma1, numpy.float64)), numpy.atleast_2d(
        numpy.asarray(sigma2, numpy.float64))
    d = len(mu1)
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"frechet_distance: shapes {mu1.shape} {s1.shape} {mu2.shape} {s2.shape} "
                         "do not fit (D,), (D, D), (D,), (D, D)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on near-singular products
        covmean = scipy.linalg.sqrtm(s1.dot(s2))
        if isinstance(covmean, tuple):  # older scipy returns (sqrtm, error) with disp=False
            covmean = covmean[0]
        if not numpy.isfinite(covmean).all():
            offset = numpy.eye(d) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if numpy.iscomplexobj(covmean):
        imag = numpy.abs(numpy.diagonal(covmean).imag).max()
        if imag > 1e-3 * max(1.0, numpy.abs(covmean).max()):
            raise ValueError(f"frechet_distance: the matrix square root has an imaginary part "
                             f"{imag:.3g}; the covariances are not positive semi-definite")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + numpy.trace(s1) + numpy.trace(s2) - 2 * numpy.trace(covmean))


def features(net, images: numpy.ndarray, batchsize: int = 500) -> numpy.ndarray:
    """Features float64 (N, 128) of images float32 (N, 1, 28, 28) in [0, 1] (on the CPU)."""
    out = []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in range(0, len(images), batchsize):
            out.append(net.features(numpy.asarray(images[i:i + batchsize], numpy.float32)).array)
    return numpy.concatenate(out).astype(numpy.float64)


class FIDMeasure:
    """FID of a set of images against fixed reference statistics, with the network ``net``.

    >>> from gconv_experiments.GAN.fid_net import FIDNet
    >>> x = numpy.random.default_rng(0).random((20, 1, 28, 28), numpy.float32)
    >>> measure = FIDMeasure(FIDNet(), *statistics(features(FIDNet(), x)))
    >>> abs(FIDMeasure(measure.net, *statistics(features(measure.net, x)))(x)) < 1e-6
    True
    """

    def __init__(self, net, mu: numpy.ndarray, sigma: numpy.ndarray):
        self.net, self.mu, self.sigma = net, mu, sigma

    def __call__(self, images: numpy.ndarray) -> float:
        """FID of images float32 (N, 1, 28, 28) in [0, 1] (N >= 2) against the reference."""
        return frechet_distance(*statistics(features(self.net, images)), self.mu, self.sigma)

    @classmethod
    def from_test_set(cls, datadir: str, testfn: str = "test.npz", cache: str = None,
                      net_dir: str = DEFAULT_DIR) -> "FIDMeasure":
        """The measure against ``datadir/testfn`` with the network of ``net_dir``; the reference
        statistics come from ``cache`` (an .npz) when it holds them for the same test file and
        weights, else they are computed (and written to ``cache`` if given)."""
        net = load_fid_net(net_dir)
        path = os.path.join(datadir, testfn)
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such file (the FID reference set, --testfn)")
        key = sha256_of(path) + ":" + sha256_of(os.path.join(net_dir, "weights.npz"))
        if cache and os.path.isfile(cache):
            with numpy.load(cache) as f:
                if str(f["key"]) == key:
                    return cls(net, f["mu"], f["sigma"])
        x, _ = mnist_rot.load_split(datadir, testfn)
        mu, sigma = statistics(features(net, x))
        if cache:
            with atomic_file.atomic_path(cache) as tmp:
                numpy.savez(tmp, mu=mu, sigma=sigma, key=numpy.array(key))
        return cls(net, mu, sigma)
