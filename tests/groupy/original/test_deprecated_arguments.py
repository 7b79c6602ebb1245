"""The original GrouPy's use_cudnn arguments (Chainer 1) are accepted, ignored, and warned
about with a DeprecationWarning naming what to use instead: SplitGConv2D's subclasses (10th
argument of the original's signature) and plane_group_spatial_max_pooling (6th)."""
import warnings

import numpy as np
import pytest

from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2
from groupy.gconv.chainer_gconv.pooling import plane_group_spatial_max_pooling

ADVICE = r"is ignored.*chainer.using_config\('use_cudnn'"


@pytest.mark.parametrize('cls, nis', [(P4ConvZ2, 1), (P4ConvP4, 4), (P4MConvZ2, 1),
                                      (P4MConvP4M, 8)])
def test_links_accept_and_ignore_use_cudnn(cls, nis):
    w = np.random.RandomState(0).standard_normal((2, 1, nis, 3, 3)).astype(np.float32)
    x = np.random.RandomState(1).standard_normal((1, 1, nis, 5, 5)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # not given: no warning
        plain = cls(1, 2, 3, initialW=w)
    # keyword, and positional in the original's order (..., wscale, nobias, use_cudnn)
    for kwargs, args in [({'use_cudnn': False}, ()), ({}, (None, False, 1, 0, 1.0, False, True))]:
        with pytest.warns(DeprecationWarning, match=cls.__name__ + r": use_cudnn=.*" + ADVICE):
            link = cls(1, 2, 3, *args, initialW=w, **kwargs)
        np.testing.assert_array_equal(link(x).array, plain(x).array)


def test_pooling_accepts_and_ignores_use_cudnn():
    x = np.random.RandomState(3).standard_normal((1, 2, 4, 4, 4))
    with pytest.warns(DeprecationWarning,
                      match=r"plane_group_spatial_max_pooling: use_cudnn=True " + ADVICE):
        y = plane_group_spatial_max_pooling(x, 2, None, 0, True, True)  # the original's order
    np.testing.assert_array_equal(y.array, plane_group_spatial_max_pooling(x, 2).array)
