"""Experiments of Cohen & Welling (ICML 2016): MNIST-rot and CIFAR10, plus shared training code."""
