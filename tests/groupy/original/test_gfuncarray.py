"""The original GrouPy's groupy/gfunc/test_gfuncarray.py, ported to Python 3: left translation
of functions on p4, p4m and Z2 by point-group elements is a left action (associative, identity,
inverse), and g2i inverts i2g. (The original indexed i2g with a list of index arrays; Python 3's
numpy needs a tuple.)"""
import numpy as np
import pytest

import groupy.garray.C4_array as c4a
import groupy.garray.D4_array as d4a
from groupy.gfunc.p4func_array import P4FuncArray
from groupy.gfunc.p4mfunc_array import P4MFuncArray
from groupy.gfunc.z2func_array import Z2FuncArray


@pytest.fixture(autouse=True)
def seed():
    np.random.seed(1)


@pytest.mark.parametrize("func, shape, group", [
    (P4FuncArray, (2, 6, 4, 5, 5), c4a), (P4MFuncArray, (2, 6, 8, 5, 5), d4a),
    (Z2FuncArray, (2, 6, 5, 5), c4a), (Z2FuncArray, (2, 6, 5, 5), d4a)])
def test_func(func, shape, group):
    f = func(v=np.random.randn(*shape))
    g = group.rand(size=(1,))
    h = group.rand(size=(1,))
    check_associative(g, h, f)
    check_identity(group, f)
    check_invertible(g, f)
    check_i2g_g2i_invertible(f)


def check_associative(g, h, f):
    assert (((g * h) * f).v == (g * (h * f)).v).all()


def check_identity(module, a):
    assert ((module.identity() * a).v == a.v).all()


def check_invertible(g, f):
    assert ((g.inv() * (g * f)).v == f.v).all()


def check_i2g_g2i_invertible(f):
    i = f.g2i(f.i2g)
    inds = tuple(i[..., j] for j in range(i.shape[-1]))
    assert (f.i2g[inds] == f.i2g).all()
