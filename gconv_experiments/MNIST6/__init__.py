"""MNIST6-180 and MNIST6-M (Romero & Lohit, "Learning Partial Equivariances from Data",
NeurIPS 2022, arXiv:2110.10211): tell a six from its 180-degree rotation (a nine-like digit) or
from its mirror image; built from the raw MNIST files by :mod:`gconv_experiments.MNIST6.mnist6`."""
