"""Using a trained G-CNN outside Chainer's G-conv layers.

* :func:`collapse`: the same test-mode function as a plain Chain of convolutions, batch
  normalisations and standard functions (G-filters materialised once, BN optionally folded);
* :func:`export_onnx`: an ONNX file of the collapsed network, checked in onnxruntime;
* ``python -m groupy.export MODEL_FILE WEIGHTS.h5 --out model.onnx``: the command line.
"""
from groupy.export.collapse import collapse  # noqa: F401
from groupy.export.collapsed_net import CollapsedNet  # noqa: F401
from groupy.export.onnx import export_onnx  # noqa: F401
from groupy.gconv.chainer_gconv.trace import UnsupportedLayerError, trace  # noqa: F401

__all__ = ['CollapsedNet', 'UnsupportedLayerError', 'collapse', 'export_onnx', 'trace']
