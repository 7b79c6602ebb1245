"""Draw a function on Z2 (one plane) as the original GrouPy's plot_z2 did."""
import numpy as np

__all__ = ['plot_z2']


def plot_z2(f, fignum=None, range=None, color_map="gray", *, ax=None):  # noqa: A002 (original name)
    """Show the plane f (nu, nv) (or a Z2FuncArray of batch shape ()) with ``imshow``, row 0 at
    the top, ticks at every pixel labelled by its index. The first four arguments are the
    original GrouPy's.

    Args:
        fignum: pyplot figure to draw into (its current Axes); None: pyplot's current Axes, as
            the original (which ignored fignum).
        range: (vmin, vmax) of the colour scale; None: the values' range.
        color_map: matplotlib colour map name.
        ax: a matplotlib Axes to draw on instead (no pyplot).
    Returns:
        the matplotlib AxesImage.
    """
    v = np.asarray(getattr(f, "v", f))
    if not (v.ndim == 2 or (v.ndim == 3 and v.shape[-1] == 3)):
        raise ValueError(f"plot_z2: expected one plane of shape (nu, nv) (or (nu, nv, 3)); got "
                         f"shape {v.shape}")
    if ax is None:
        import matplotlib.pyplot as plt
        ax = (plt.figure(fignum) if fignum is not None else plt.gcf()).gca()
    vmin, vmax = (None, None) if range is None else range
    image = ax.imshow(v, interpolation="nearest", cmap=color_map, vmin=vmin, vmax=vmax)
    ax.set_xticks(np.arange(v.shape[1]), [str(i) for i in np.arange(v.shape[1])])
    ax.set_yticks(np.arange(v.shape[0]), [str(i) for i in np.arange(v.shape[0])])
    return image
