"""Argument and dtype checks shared by groupy's links and functions: each raises an error that
names the argument and says what was expected.

>>> int_pair(2, 'stride', 1)
(2, 2)
>>> positive_int(0, 'ksize')
Traceback (most recent call last):
    ...
ValueError: ksize must be a positive integer, got 0
"""
import numpy

__all__ = ['FLOAT_DTYPES', 'check_conv_inputs', 'check_float', 'check_gfeature_map',
           'float_dtype', 'int_pair', 'positive_int']

#: the scalar types of the dtypes groupy's layers compute in
FLOAT_DTYPES = (numpy.float16, numpy.float32, numpy.float64)


def _is_int(value) -> bool:
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def int_pair(value, name: str, minimum: int) -> tuple:
    """``value`` (an int or a pair of ints, each >= ``minimum``) as a pair of Python ints;
    ValueError naming ``name`` otherwise."""
    try:
        pair = (value, value) if numpy.isscalar(value) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise ValueError('{} must be an int or a pair of ints, got {!r}'.format(name, value))
    if min(pair) < minimum:
        raise ValueError('{} must be >= {}, got {!r}'.format(name, minimum, value))
    return int(pair[0]), int(pair[1])


def positive_int(value, name: str, allow_none: bool = False):
    """``value`` as a Python int >= 1 (or None where ``allow_none``); ValueError otherwise."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError('{} must be a positive integer, got {!r}'.format(name, value))
    return int(value)


def float_dtype(dtype, name: str) -> numpy.dtype:
    """``dtype`` as a numpy.dtype if it is float16, float32 or float64; ValueError otherwise."""
    try:
        dt = numpy.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.type not in FLOAT_DTYPES:
        raise ValueError('{} must be float16, float32 or float64, got {}'.format(name, dtype))
    return dt


def check_float(x, name: str) -> None:
    """Raise ValueError unless the array or Variable ``x`` is float16, float32 or float64."""
    if numpy.dtype(x.dtype).type not in FLOAT_DTYPES:
        raise ValueError('{}: expected a float16, float32 or float64 array, got dtype {}'.format(
            name, x.dtype))


def check_gfeature_map(x, name: str, g_size=None) -> None:
    """Raise ValueError unless ``x`` is a (N, C, G, H, W) float array (G == g_size if given)."""
    shape = tuple(x.shape)
    g = 'G' if g_size is None else str(g_size)
    if len(shape) != 5 or (g_size is not None and shape[2] != g_size):
        raise ValueError('{}: expected a feature map on the plane group of shape '
                         '(batch, channels, {}, height, width), got shape {}'.format(
                             name, g, shape))
    check_float(x, name)


def check_conv_inputs(x, W, b, groups: int, name: str) -> None:
    """Raise ValueError unless x (N, C, H, W), W (O, C / groups, kh, kw) and b (None or (O,))
    fit together."""
    xs, ws = tuple(x.shape), tuple(W.shape)
    if len(xs) != 4 or len(ws) != 4 or xs[1] != ws[1] * groups:
        raise ValueError('{}: expected x of shape (N, C, H, W) and W of shape (O, C, kh, kw) '
                         'with the same C{}, got x {} and W {}'.format(
                             name, '' if groups == 1 else ' / groups', xs, ws))
    if b is not None and tuple(b.shape) != ws[:1]:
        raise ValueError('{}: expected b of shape ({},), got {}'.format(name, ws[0], b.shape))
