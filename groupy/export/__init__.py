"""Using a trained G-CNN outside Chainer's G-conv layers.

* :func:`collapse`: the same test-mode function as a plain Chain of convolutions, batch
  normalisations and standard functions (G-filters materialised once, BN optionally folded);
* :func:`export_onnx`: an ONNX file of the collapsed network, checked in onnxruntime;
* :func:`trace` and :class:`UnsupportedLayerError`, from :mod:`groupy.gconv.chainer_gconv.trace`.

The command line for the experiment models is ``python -m gconv_experiments.export``.

>>> import numpy
>>> from groupy.gconv.chainer_gconv import P4ConvZ2
>>> net = collapse(P4ConvZ2(1, 2, ksize=3), input_shape=(1, 1, 5, 5))
>>> net(numpy.zeros((1, 1, 5, 5), numpy.float32)).shape
(1, 2, 4, 3, 3)
"""
from groupy.export.collapse import collapse  # noqa: F401
from groupy.export.collapsed_net import CollapsedNet  # noqa: F401
from groupy.export.onnx import export_onnx  # noqa: F401
from groupy.gconv.chainer_gconv.trace import UnsupportedLayerError, trace  # noqa: F401

__all__ = ['CollapsedNet', 'UnsupportedLayerError', 'collapse', 'export_onnx', 'trace']
