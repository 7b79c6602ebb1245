"""Matplotlib drawings of functions on p4 and p4m in the layout of the G-CNN paper
(no pyplot: figures are plain ``matplotlib.figure.Figure`` objects saved as PNG)."""
from groupy.gfunc.plot.plot_p4 import plot_p4  # noqa: F401
from groupy.gfunc.plot.plot_p4m import plot_p4m  # noqa: F401
