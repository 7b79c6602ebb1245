"""Input validation shared by the G-conv links and the pooling functions."""
import numpy


def check_gfeature_map(x, name, g_size=None):
    """Raise ValueError unless ``x`` is a (N, C, G, H, W) float array (G == g_size if given)."""
    shape = tuple(x.shape)
    g = 'G' if g_size is None else str(g_size)
    if len(shape) != 5 or (g_size is not None and shape[2] != g_size):
        raise ValueError('{}: expected a feature map on the plane group of shape '
                         '(batch, channels, {}, height, width), got shape {}'.format(
                             name, g, shape))
    check_float(x, name)


def check_float(x, name):
    """Raise ValueError unless ``x`` is float16, float32 or float64."""
    if numpy.dtype(x.dtype).type not in (numpy.float16, numpy.float32, numpy.float64):
        raise ValueError('{}: expected a float16, float32 or float64 array, got dtype {}'.format(
            name, x.dtype))
