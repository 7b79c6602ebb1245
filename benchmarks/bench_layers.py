"""The ``transform`` and ``layers`` sections of ``benchmarks/run_benchmarks.py``, in process:
TransformGFilter forward + backward against a plain ``F.tile`` copy of the filter bank, and each
G-conv link forward + backward against one plain convolution with the same effective channels.
Each returns a list of table rows (:func:`bench_timing.row`)."""
from bench_timing import interleaved, row, sync_fn


def bench_transform(args, xp, device):
    import chainer
    import chainer.functions as F
    from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2
    from groupy.gconv.chainer_gconv.transform_filter import transform_filter

    cases = [(P4ConvZ2, 10, 1, 3), (P4ConvP4, 10, 10, 3), (P4MConvZ2, 10, 1, 3),
             (P4MConvP4M, 10, 10, 3), (P4ConvP4, 96, 96, 3), (P4MConvP4M, 64, 64, 3)]
    if args.quick:
        cases = cases[:2]
    rows = []
    for cls, cout, cin, k in cases:
        link = cls(cin, cout, ksize=k)
        link.to_device(device)
        nos = link.output_stabilizer_size
        w = chainer.Variable(link.W.array)
        gy = xp.ones((cout, nos, cin, link.input_stabilizer_size, k, k), dtype=w.dtype)

        def transform():
            w.grad_var = None
            tw = transform_filter(w, link.index)
            tw.grad = gy
            tw.backward()

        def copy():
            w.grad_var = None
            tw = F.tile(F.expand_dims(w, 1), (1, nos, 1, 1, 1, 1))
            tw.grad = gy
            tw.backward()

        t = interleaved({'ours': transform, 'ref': copy}, args.repeats, sync_fn(xp))
        rows.append(row('transform', '{}({}, {}, k={}) vs F.tile copy'.format(
            cls.__name__, cin, cout, k), t['ours'], t['ref']))
    return rows


def bench_layers(args, xp, device):
    import numpy as np

    import chainer
    from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2
    from groupy.fast_cpu.conv2d import convolution_2d

    n = 8 if args.quick else 64
    cases = [(P4ConvZ2, 1, 10, 28), (P4ConvP4, 10, 10, 24), (P4MConvZ2, 1, 10, 28),
             (P4MConvP4M, 10, 10, 16), (P4ConvP4, 48, 48, 16)]
    if args.quick:
        cases = cases[:2]
    rows = []
    rng = np.random.RandomState(0)
    for cls, cin, cout, size in cases:
        link = cls(cin, cout, ksize=3, pad=1)
        link.to_device(device)
        nis, nos = link.input_stabilizer_size, link.output_stabilizer_size
        x = xp.asarray(rng.standard_normal((n, cin, nis, size, size)).astype(np.float32))
        x_flat = x.reshape(n, cin * nis, size, size)
        w_plain = chainer.Parameter(xp.asarray(rng.standard_normal(
            (cout * nos, cin * nis, 3, 3)).astype(np.float32) * 0.1))
        b_plain = chainer.Parameter(xp.zeros(cout * nos, dtype=np.float32))
        gy = xp.ones((n, cout, nos, size, size), dtype=np.float32)

        def gconv():
            link.cleargrads()
            xv = chainer.Variable(x)
            y = link(xv)
            y.grad = gy
            y.backward()

        def plain():
            w_plain.cleargrad()
            b_plain.cleargrad()
            xv = chainer.Variable(x_flat)
            y = convolution_2d(xv, w_plain, b_plain, pad=1)
            y.grad = gy.reshape(y.shape)
            y.backward()

        t = interleaved({'ours': gconv, 'ref': plain}, args.repeats, sync_fn(xp))
        rows.append(row('layers', '{}({}, {}) x({}, {}, {}, {s}, {s}) vs conv {}->{}'.format(
            cls.__name__, cin, cout, n, cin, nis, cin * nis, cout * nos, s=size),
            t['ours'], t['ref']))
    return rows
