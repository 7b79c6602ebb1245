"""Forward + backward time of one P4ConvP4 layer against a plain Chainer convolution with the same
effective channel counts, measured side by side in one run.

    P4ConvP4(32, 32, ksize=3, pad=1)      on x of shape (64, 32, 4, 32, 32)
    Convolution2D(128, 128, 3, pad=1)     on x of shape (64, 128, 32, 32)

The plain convolution is groupy's drop-in `cpu_conv2d.Convolution2D` (an L.Convolution2D that
runs the same convolution routine as the G-conv layers: the fast CPU path, or Chainer's own with
GROUPY_FAST_CPU_CONV=0 and on the GPU), so the ratio isolates the cost of the group structure.

Each repeat times one forward and one backward pass (gradients for the input and the
parameters) of each layer, alternating between the two so that both see the same machine state;
the script prints the medians and their ratio (target: G-conv <= 1.10 x plain conv), the ratio
of the fastest runs (robust when other processes share the machine), and the median time of the
filter transform alone.

Usage:
    python benchmarks/gconv_layer_vs_conv.py [--gpu 0] [--batchsize 64] [--size 32]
        [--channels 32] [--repeats 9] [--dtype float32]
"""
import argparse
import time

import numpy as np

import groupy  # noqa: F401  (its warning filter must precede the first chainer import)
import chainer

from groupy.gconv.chainer_gconv import P4ConvP4
from groupy.gconv.chainer_gconv.transform_filter import transform_filter
from groupy.fast_cpu.conv2d import Convolution2D


def _sync(device):
    if device.xp is not np:
        device.xp.cuda.get_current_stream().synchronize()


def forward_backward(link, x, gy, device):
    """Seconds for y = link(x); y.backward() with gradient gy."""
    link.cleargrads()
    x.grad_var = None
    _sync(device)
    start = time.perf_counter()
    y = link(x)
    y.grad = gy
    y.backward()
    _sync(device)
    return time.perf_counter() - start


def transform_only(link, device):
    w = chainer.Variable(link.W.array)
    _sync(device)
    start = time.perf_counter()
    tw = transform_filter(w, link.index)
    tw.grad = device.xp.ones_like(tw.array)
    tw.backward()
    _sync(device)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--gpu', type=int, default=-1, help='CUDA device id (-1: CPU)')
    parser.add_argument('--batchsize', type=int, default=64)
    parser.add_argument('--size', type=int, default=32, help='height = width of the maps')
    parser.add_argument('--channels', type=int, default=32, help='G-conv channels per orientation')
    parser.add_argument('--repeats', type=int, default=9)
    parser.add_argument('--dtype', default='float32', choices=['float16', 'float32', 'float64'])
    args = parser.parse_args(argv)

    device = chainer.get_device('@cupy:{}'.format(args.gpu) if args.gpu >= 0 else '@numpy')
    device.use()
    dtype = np.dtype(args.dtype)
    n, c, s = args.batchsize, args.channels, args.size
    rng = np.random.RandomState(0)

    gconv = P4ConvP4(c, c, ksize=3, pad=1, dtype=dtype)
    conv = Convolution2D(4 * c, 4 * c, 3, pad=1,
                           initialW=chainer.initializers.Normal(0.05, dtype=dtype),
                           initial_bias=chainer.initializers.Zero(dtype=dtype))
    gconv.to_device(device)
    conv.to_device(device)
    x_g = chainer.Variable(device.send(rng.standard_normal((n, c, 4, s, s)).astype(dtype)))
    x_c = chainer.Variable(device.send(rng.standard_normal((n, 4 * c, s, s)).astype(dtype)))
    gy_g = device.send(rng.standard_normal((n, c, 4, s, s)).astype(dtype))
    gy_c = device.send(rng.standard_normal((n, 4 * c, s, s)).astype(dtype))

    for _ in range(2):  # warm-up: allocations, kernel compilation, BLAS threads
        forward_backward(gconv, x_g, gy_g, device)
        forward_backward(conv, x_c, gy_c, device)
    times_g, times_c, times_t = [], [], []
    for _ in range(args.repeats):
        times_g.append(forward_backward(gconv, x_g, gy_g, device))
        times_c.append(forward_backward(conv, x_c, gy_c, device))
        times_t.append(transform_only(gconv, device))
    med_g, med_c, med_t = (float(np.median(t)) for t in (times_g, times_c, times_t))

    print('device: {}, dtype: {}, batch {}, {}x{} maps, {} repeats (median), fast CPU paths: {}'.format(
        device, dtype, n, s, s, args.repeats, chainer.config.groupy_fast_cpu_conv))
    print('P4ConvP4({0}, {0}) forward+backward:        {1:9.3f} ms'.format(c, med_g * 1e3))
    print('Convolution2D({0}, {0}) forward+backward:   {1:9.3f} ms'.format(4 * c, med_c * 1e3))
    print('  of which filter transform fwd+bwd:       {:9.3f} ms'.format(med_t * 1e3))
    print('ratio G-conv / plain conv: {:.3f}x (target <= 1.10x); fastest runs: {:.3f}x, '
          'median of per-repeat ratios: {:.3f}x'.format(
              med_g / med_c, min(times_g) / min(times_c),
              float(np.median(np.divide(times_g, times_c)))))
    return med_g / med_c


if __name__ == '__main__':
    main()
