"""Group convolutions: ``make_gconv_indices`` builds the index tables that rotate/flip filters;
``chainer_gconv`` holds the Chainer G-convolution links built on them."""

__all__ = []
