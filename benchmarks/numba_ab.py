"""Side-by-side ratios, in one process, of groupy.fast_cpu's compiled (numba) kernels against its
NumPy passes (``chainer.config.groupy_fast_cpu_numba`` toggled between calls, the variants
interleaved and medians taken, so load on the machine cancels out to first order):

* ``--what steps``: whole training steps (forward, backward, Adam) of project models (with the
  kernels on, ConvBNAct runs BN + ReLU as one node,
  :meth:`groupy.fast_cpu.BatchNormalization.forward_relu`);
* ``--what ops``: each memory-bound pass on the layer shapes of P4CNN (batch 128), forward and
  backward.

    .venv/bin/python benchmarks/numba_ab.py --what steps --models Z2CNN,P4CNN --threads 2
    .venv/bin/python benchmarks/numba_ab.py --what ops --threads 1

Prints medians (ms) of wall and process CPU time and their ratios to the NumPy variant (lower
is better).
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import groupy  # noqa: E402,F401
import chainer  # noqa: E402

from groupy import fast_cpu  # noqa: E402


def _interleave(variants, repeats):
    """{name: (median wall seconds, median CPU seconds of the process)} of the callables in
    ``variants`` ({name: (numba switch, fn)}), run in turn ``repeats`` times after one warm-up
    each, in reversed order every other round (what runs after what matters a little). On a
    loaded machine the CPU time (all threads) is the steadier measure of the work."""
    times = {name: [] for name in variants}
    for i in range(repeats + 1):
        order = list(variants.items())
        for name, (numba_on, fn) in (order[::-1] if i % 2 else order):
            with chainer.using_config('groupy_fast_cpu_numba', numba_on):
                start, cpu = time.perf_counter(), time.process_time()
                fn()
                if i:
                    times[name].append((time.perf_counter() - start,
                                        time.process_time() - cpu))
    return {name: tuple(np.median(np.array(t), axis=0)) for name, t in times.items()}


def _report(title, medians, base='numpy'):
    print(title)
    wall0, cpu0 = medians[base]
    for name, (wall, cpu) in medians.items():
        print('  {:<12} wall {:9.2f} ms  ratio {:.3f}   cpu {:9.2f} ms  ratio {:.3f}'.format(
            name, 1e3 * wall, wall / wall0, 1e3 * cpu, cpu / cpu0), flush=True)


def steps(models, repeats):
    import step_worker
    for name in models:
        np.random.seed(0)
        model = step_worker.build_model(name)
        size, chans = (32, 3) if 'AllCNNC' in name or 'ResNet' in name else (28, 1)
        batch = 32 if chans == 3 else 128
        rng = np.random.RandomState(0)
        x = rng.standard_normal((batch, chans, size, size)).astype(np.float32)
        t = rng.randint(0, 10, batch).astype(np.int32)
        opt = chainer.optimizers.Adam()
        opt.setup(model)

        def step():
            model.cleargrads()
            loss, _ = model(x, t)
            loss.backward()
            opt.update()

        medians = _interleave({'numpy': (False, step), 'numba': (True, step)}, repeats)
        _report('{} training step (batch {}, {} thread(s), median of {}):'.format(
            name, batch, fast_cpu.get_num_threads(), repeats), medians)


def _backward(fn, *arrays):
    """fn's output and a closure running its backward with a fixed upstream gradient."""
    def run():
        vs = [chainer.Variable(a) for a in arrays]
        y = fn(*vs)
        y.grad = np.ones_like(y.array)
        y.backward()
    return run


def ops(repeats):
    rng = np.random.RandomState(0)
    c = 10
    x = rng.standard_normal((128, c, 4, 26, 26)).astype(np.float32)
    gamma, beta = rng.uniform(.5, 1.5, c).astype(np.float32), np.zeros(c, np.float32)
    xp = rng.standard_normal((128, c * 4, 22, 22)).astype(np.float32)
    cases = {
        'BN fwd': lambda: fast_cpu.batch_normalization(x, gamma, beta),
        'BN + ReLU fwd (2 nodes)': lambda: fast_cpu.relu(
            fast_cpu.batch_normalization(x, gamma, beta)),
        'BN + ReLU fwd+bwd (2 nodes)': _backward(
            lambda v, g, b: fast_cpu.relu(fast_cpu.batch_normalization(v, g, b)), x, gamma, beta),
        'ReLU fwd+bwd': _backward(fast_cpu.relu, x),
        'maxpool 2x2 fwd+bwd': _backward(lambda v: fast_cpu.max_pooling_2d(v, 2), xp),
        'orientation max fwd+bwd': _backward(fast_cpu.orientation_max, x),
    }
    from groupy.fast_cpu.batchnorm_relu import batch_normalization_relu
    fused = _backward(batch_normalization_relu, x, gamma, beta)
    for name, fn in cases.items():
        variants = {'numpy': (False, fn), 'numba': (True, fn)}
        if name.startswith('BN + ReLU fwd+bwd'):
            variants['numba fused'] = (True, fused)
        _report('{} ({} thread(s), median of {}):'.format(
            name, fast_cpu.get_num_threads(), repeats), _interleave(variants, repeats))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--what', choices=['steps', 'ops'], default='steps')
    p.add_argument('--models', default='Z2CNN,P4CNN')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--repeats', type=int, default=15)
    args = p.parse_args(argv)
    if args.threads:
        fast_cpu.set_num_threads(args.threads)
    fast_cpu.keep_freed_memory()
    if args.what == 'steps':
        steps(args.models.split(','), args.repeats)
    else:
        ops(args.repeats)


if __name__ == '__main__':
    main()
