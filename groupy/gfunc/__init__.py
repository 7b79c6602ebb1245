"""Functions on grids of group elements and their left/right translations
(``g * f`` is ``f(g^-1 x)``, ``f * g`` is ``f(x g)``); ``groupy.gfunc.plot`` draws them."""
from groupy.gfunc.gfuncarray import GFuncArray  # noqa: F401
from groupy.gfunc.p4func_array import P4FuncArray  # noqa: F401
from groupy.gfunc.p4mfunc_array import P4MFuncArray  # noqa: F401
from groupy.gfunc.z2func_array import Z2FuncArray  # noqa: F401

__all__ = ['GFuncArray', 'P4FuncArray', 'P4MFuncArray', 'Z2FuncArray']
