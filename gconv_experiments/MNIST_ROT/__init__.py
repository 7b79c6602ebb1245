"""MNIST-rot experiment: data preparation (mnist_rot, digits_rot), models, training and the sweep."""
__all__ = []
