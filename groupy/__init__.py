"""groupy: group arrays, functions on groups and group-equivariant convolutions.

Subpackages: ``groupy.garray`` (arrays of elements of Z2, C4, D4, p4, p4m),
``groupy.gfunc`` (functions on grids of group elements and their translations, plots),
``groupy.gconv`` (filter-transform index tables and the Chainer G-convolution layers).
"""
__version__ = "0.1.0"

from groupy import _compat

__all__ = ['__version__']

# chainer 7.8.1 on numpy 2 / Python 3.12: restore what it needs before it is imported (a no-op
# where nothing is missing; see groupy/_compat/__init__.py), and silence its import-time noise.
_compat.install_import_hook()
