"""Experiments of Cohen & Welling (ICML 2016): MNIST-rot and CIFAR10, plus shared training code."""
import groupy  # noqa: F401  (installs groupy's warning filters before chainer is imported)

__all__ = []
