"""Matplotlib drawings of functions on Z2, p4 and p4m in the layout of the G-CNN paper, with the
original GrouPy's signatures (pyplot figures by ``fignum``), and ``ax=`` / ``fname=`` to draw on
a given Axes or save a PNG without pyplot.

Import the functions from their modules, as with the original GrouPy::

    from groupy.gfunc.plot.plot_p4 import plot_p4
    from groupy.gfunc.plot.plot_p4m import plot_p4m
    from groupy.gfunc.plot.plot_z2 import plot_z2

(the package does not re-export them: a function would hide its module of the same name, and
``import groupy.gfunc.plot.plot_p4 as m`` must give the module.)
"""

__all__ = []
