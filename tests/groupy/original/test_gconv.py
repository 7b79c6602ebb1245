"""The original GrouPy's chainer_gconv/test_gconv.py, ported: networks of P4ConvZ2/P4ConvP4 and
P4MConvZ2/P4MConvP4M layers (built as the original: positional and keyword channel/ksize
arguments) are equivariant: transforming an 11x11 input by a random point-group element g and
transforming the output back by g^-1 gives the output of the untransformed input (rtol 1e-5,
atol 1e-3, float32). The original ran on the GPU (gpu marker); the NumPy variant runs everywhere."""
import numpy as np
import pytest
from chainer import Variable, backend

import groupy.garray.C4_array as c4a
import groupy.garray.D4_array as d4a
from groupy.gconv.chainer_gconv.p4_conv import P4ConvP4, P4ConvZ2
from groupy.gconv.chainer_gconv.p4m_conv import P4MConvP4M, P4MConvZ2
from groupy.gfunc import P4FuncArray, P4MFuncArray, Z2FuncArray

NETWORKS = {
    "p4_net": ((1, 1, 11, 11), lambda: [P4ConvZ2(in_channels=1, out_channels=2, ksize=3),
                                        P4ConvP4(in_channels=2, out_channels=3, ksize=3)],
               Z2FuncArray, P4FuncArray, c4a),
    "p4m_net": ((1, 1, 11, 11), lambda: [P4MConvZ2(in_channels=1, out_channels=2, ksize=3),
                                         P4MConvP4M(in_channels=2, out_channels=3, ksize=3)],
                Z2FuncArray, P4MFuncArray, d4a),
    "z2_p4": ((1, 1, 11, 11), lambda: [P4ConvZ2(1, 2, 3)], Z2FuncArray, P4FuncArray, c4a),
    "z2_p4m": ((1, 1, 11, 11), lambda: [P4MConvZ2(1, 2, 3)], Z2FuncArray, P4MFuncArray, d4a),
    "p4_p4": ((1, 1, 4, 11, 11), lambda: [P4ConvP4(1, 2, 3)], P4FuncArray, P4FuncArray, c4a),
    "p4m_p4m": ((1, 1, 8, 11, 11), lambda: [P4MConvP4M(1, 2, 3)], P4MFuncArray, P4MFuncArray,
                d4a),
}


def check_equivariance(im, layers, input_array, output_array, point_group, device):
    g = point_group.rand()
    im1 = (g * input_array(im)).v
    fmap, fmap1 = Variable(device.send(im)), Variable(device.send(im1.astype(im.dtype)))
    for layer in layers:
        layer.to_device(device)
        fmap, fmap1 = layer(fmap), layer(fmap1)
    cpu = backend.CpuDevice()
    r_fmap1_data = (g.inv() * output_array(cpu.send(fmap1.data))).v
    assert np.allclose(cpu.send(fmap.data), r_fmap1_data, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("net", sorted(NETWORKS))
def test_equivariance_numpy(net, seed):
    np.random.seed(seed)
    shape, layers, input_array, output_array, group = NETWORKS[net]
    im = np.random.randn(*shape).astype("float32")
    check_equivariance(im, layers(), input_array, output_array, group, backend.CpuDevice())


@pytest.mark.gpu
@pytest.mark.parametrize("net", sorted(NETWORKS))
def test_equivariance(net):
    np.random.seed(0)
    shape, layers, input_array, output_array, group = NETWORKS[net]
    im = np.random.randn(*shape).astype("float32")
    check_equivariance(im, layers(), input_array, output_array, group,
                       backend.get_device("@cupy:0"))
