"""groupy: group arrays, functions on groups and group-equivariant convolutions.

Subpackages, each importing only those above it in this list:

* ``groupy.garray``: arrays of elements of Z2, C4, D4, p4 and p4m;
* ``groupy.gfunc``: functions on grids of group elements, their translations, and plots;
* ``groupy.fast_cpu``: faster NumPy passes for Chainer's own convolution, batch
  normalisation, pooling, ReLU and dropout nodes (subclasses that run Chainer's code
  elsewhere), and the switch ``GROUPY_FAST_CPU_CONV`` that turns them off;
* ``groupy.gconv``: the filter-transform index tables (``make_gconv_indices``) and
  ``chainer_gconv``, the Chainer G-convolution links, pooling, the equivariance check, the
  forward-pass trace and the exactness analysis built on it;
* ``groupy.export``: a trained G-CNN as a plain CNN (``collapse``) and as an ONNX file
  (``export_onnx``);
* ``groupy._compat`` (private): restores what chainer 7.8.1 needs on numpy 2 / Python 3.12
  before chainer is imported (this module installs it as an import hook).

>>> from groupy.garray.C4_array import rotation
>>> (rotation(1) * rotation(3)).data.tolist()  # r = 1 then r = 3: the identity
[0]
"""
__version__ = "0.1.0"

from groupy import _compat

__all__ = ['__version__']

# chainer 7.8.1 on numpy 2 / Python 3.12: restore what it needs before it is imported (a no-op
# where nothing is missing; see groupy/_compat/__init__.py), and silence its import-time noise.
_compat.install_import_hook()
