"""Side-by-side timings of groupy.fast_cpu's convolution algorithms on single 3x3 stride-1 layers:
im2col + OpenBLAS SGEMM, Winograd F(2x2, 3x3) and the compiled direct convolution, each for the
forward pass, the input gradient and the weight gradient, interleaved in one process (medians
of ``--repeats`` rounds), with what 'auto' picks for the layer. The thresholds of 'auto' in
``groupy/fast_cpu/conv2d_kernels.py`` come from this table.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/conv_algorithms.py --threads 1
    .venv/bin/python benchmarks/conv_algorithms.py --threads 2 --layers 32x88x32,32x184x16

A layer is ``NxCxH``: batch N, C input and output channels (planes: a G-conv's channels times
its stabiliser size), H x H maps, padding 1. The default layers are shaped like the stride-1
3x3 layers of the benchmark models (MNIST models at batch 128, CIFAR models at batch 32). Prints
ms per call and each algorithm's total over the three passes divided by im2col's (lower is
better).
"""
import argparse
import os
import sys

import numpy as np
import threadpoolctl

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import chainer  # noqa: E402

from bench_timing import interleaved, median  # noqa: E402
from groupy.fast_cpu import conv2d_kernels  # noqa: E402
from groupy.fast_cpu.threads import get_num_threads, set_num_threads  # noqa: E402

#: stride-1 3x3 layers of the benchmark models: (batch, planes, map size)
DEFAULT_LAYERS = ['128x40x24', '128x40x10', '128x80x24', '32x88x32', '32x184x16', '32x360x8',
                  '32x192x32', '32x384x16', '32x272x32']
ALGORITHMS = ('im2col', 'winograd', 'direct')


def parse_layer(text: str) -> tuple:
    """'NxCxH' -> (N, C, H); ValueError naming the text otherwise."""
    try:
        n, c, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError('--layers: {!r} is not NxCxH (batch x channels x map size), e.g. '
                         '32x88x32'.format(text)) from None
    if min(n, c, h) < 1:
        raise ValueError('--layers: {!r} has a size below 1'.format(text))
    return n, c, h


def passes(n: int, c: int, h: int, seed: int = 0) -> dict:
    """The three passes of one layer as callables of no argument."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    W = rng.standard_normal((c, c, 3, 3), dtype=np.float32)
    gy = rng.standard_normal((n, c, h, h), dtype=np.float32)
    one, pad = (1, 1), (1, 1)
    return {'forward': lambda: conv2d_kernels.conv2d_forward(x, W, None, one, pad),
            'input grad': lambda: conv2d_kernels.conv2d_transpose(gy, W, one, pad, (h, h)),
            'weight grad': lambda: conv2d_kernels.conv2d_grad_w(x, gy, one, pad, (3, 3))}


def auto_choice(c: int, h: int) -> str:
    """What 'auto' takes for the forward pass and the weight gradient of a layer with c channels
    in and out on h x h maps (the batch size does not enter the choice)."""
    x = np.zeros((1, c, 1, 1), np.float32)
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'auto'):
        if conv2d_kernels.use_winograd(c, c, 3, 3, (1, 1), (h, h)):
            return 'winograd'
        fwd = 'direct' if conv2d_kernels.direct_kernels(x, c, c, 3, (1, 1)) else 'im2col'
        wgrad = 'direct' if conv2d_kernels.direct_kernels(x, c, c, 3, (1, 1), True) else 'im2col'
    return fwd if fwd == wgrad else '{} (weight grad {})'.format(fwd, wgrad)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--layers', default=','.join(DEFAULT_LAYERS),
                   help='comma-separated NxCxH (batch x channels x map size)')
    args = p.parse_args(argv)
    try:
        layers = [parse_layer(t) for t in args.layers.split(',')]
    except ValueError as e:
        p.error(str(e))
    before = get_num_threads()
    set_num_threads(args.threads)
    # one BLAS thread per worker: as in a training run with --threads N (groupy's workers pin the
    # BLAS to one thread when they split a batch; on one thread nothing else would limit it)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api='blas'):
            print_table(layers, args.threads, args.repeats)
    finally:
        set_num_threads(before)


def print_table(layers: list, threads: int, repeats: int) -> None:
    """The table of :func:`main` for ``layers`` [(N, C, H)]."""
    print('threads {}, medians of {} rounds, ms per call; total = the three passes, / im2col'
          .format(threads, repeats))
    print('{:>12s} {:>9s} {:>8s} {:>10s} {:>11s} {:>8s} {:>7s}   auto takes'.format(
        'layer', 'algorithm', 'forward', 'input grad', 'weight grad', 'total', 'ratio'))
    for n, c, h in layers:
        fns = passes(n, c, h)
        calls = {}
        for algo in ALGORITHMS:
            for name, fn in fns.items():
                def run(fn=fn, algo=algo):
                    with chainer.using_config('groupy_fast_cpu_conv_algo', algo):
                        fn()
                calls[(algo, name)] = run
        t = interleaved(calls, repeats)
        ms = {k: 1e3 * median(v) for k, v in t.items()}
        base = sum(ms[('im2col', name)] for name in fns)
        for algo in ALGORITHMS:
            total = sum(ms[(algo, name)] for name in fns)
            print('{:>12s} {:>9s} {:8.1f} {:10.1f} {:11.1f} {:8.1f} {:7.2f}   {}'.format(
                '{}x{}x{}'.format(n, c, h), algo, *(ms[(algo, name)] for name in fns), total,
                total / base, auto_choice(c, h) if algo == 'im2col' else ''), flush=True)


if __name__ == '__main__':
    main()
