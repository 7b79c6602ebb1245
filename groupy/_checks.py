"""Argument checks shared by groupy's layers and functions."""
import numpy


def int_pair(value, name, minimum):
    """``value`` (an int or a pair of ints, each >= ``minimum``) as a pair of Python ints;
    ValueError naming ``name`` otherwise."""
    try:
        pair = (value, value) if numpy.isscalar(value) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
            isinstance(v, (int, numpy.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError('{} must be an int or a pair of ints, got {!r}'.format(name, value))
    if min(pair) < minimum:
        raise ValueError('{} must be >= {}, got {!r}'.format(name, minimum, value))
    return int(pair[0]), int(pair[1])
