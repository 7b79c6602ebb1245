"""groupy._checks: every check accepts what it documents and names the argument otherwise."""
import numpy
import pytest

from groupy import _checks


@pytest.mark.parametrize('value,expected', [(2, (2, 2)), ((1, 3), (1, 3)),
                                            (numpy.int64(4), (4, 4))])
def test_int_pair_accepts_ints_and_pairs(value, expected):
    assert _checks.int_pair(value, 'stride', 1) == expected


@pytest.mark.parametrize('value,match', [
    (0, 'stride must be >= 1, got 0'), ((1, 2, 3), 'stride must be an int or a pair of ints'),
    (1.5, 'an int or a pair'), (True, 'an int or a pair'), (None, 'an int or a pair')])
def test_int_pair_rejects(value, match):
    with pytest.raises(ValueError, match=match):
        _checks.int_pair(value, 'stride', 1)


def test_positive_int():
    assert _checks.positive_int(numpy.int32(3), 'ksize') == 3
    assert _checks.positive_int(None, 'in_channels', allow_none=True) is None
    for bad in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match='ksize must be a positive integer'):
            _checks.positive_int(bad, 'ksize')


def test_float_dtype_and_check_float():
    assert _checks.float_dtype('float16', 'dtype') == numpy.float16
    with pytest.raises(ValueError, match='dtype must be float16, float32 or float64, got int32'):
        _checks.float_dtype('int32', 'dtype')
    _checks.check_float(numpy.zeros(2, numpy.float64), 'x')
    with pytest.raises(ValueError, match='x: expected a float16, float32 or float64 array'):
        _checks.check_float(numpy.zeros(2, numpy.int64), 'x')


def test_check_gfeature_map():
    _checks.check_gfeature_map(numpy.zeros((1, 2, 4, 3, 3), numpy.float32), 'x', g_size=4)
    with pytest.raises(ValueError, match=r'\(batch, channels, 8, height, width\), got shape'):
        _checks.check_gfeature_map(numpy.zeros((1, 2, 4, 3, 3), numpy.float32), 'x', g_size=8)


def test_check_conv_inputs():
    x, W = numpy.zeros((1, 4, 5, 5)), numpy.zeros((6, 2, 3, 3))
    _checks.check_conv_inputs(x, W, numpy.zeros(6), 2, 'conv')
    with pytest.raises(ValueError, match=r'conv: expected .* with the same C, got x \(1, 4'):
        _checks.check_conv_inputs(x, W, None, 1, 'conv')
    with pytest.raises(ValueError, match='with the same C / groups'):
        _checks.check_conv_inputs(x, W, None, 3, 'conv')
    with pytest.raises(ValueError, match=r'conv: expected b of shape \(6,\), got \(5,\)'):
        _checks.check_conv_inputs(x, W, numpy.zeros(5), 2, 'conv')
