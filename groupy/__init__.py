"""groupy: group arrays, functions on groups and group-equivariant convolutions.

Subpackages: ``groupy.garray`` (arrays of elements of Z2, C4, D4, p4, p4m),
``groupy.gfunc`` (functions on grids of group elements and their translations, plots),
``groupy.gconv`` (filter-transform index tables and the Chainer G-convolution layers).
"""
__version__ = "0.1.0"

import warnings as _warnings

# CuPy warns on every `import chainer` when the optional NCCL library (multi-GPU only) is not
# installed; nothing here uses NCCL, so that one warning is silenced.
_warnings.filterwarnings("ignore", message=r"\s*nccl library could not be loaded",
                         category=UserWarning)
# Chainer's import-time environment check imports numpy.distutils and pkg_resources, which
# raise DeprecationWarnings (shown only under -W error/default); they are not groupy's to fix.
for _message in (r"\s*`numpy.distutils` is deprecated", r"msvccompiler is deprecated",
                 r"pkg_resources is deprecated"):
    _warnings.filterwarnings("ignore", message=_message, category=DeprecationWarning)
del _message
