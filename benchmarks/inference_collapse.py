"""Test-mode inference time per batch: the G-CNN as trained vs its filter cache vs the collapsed
plain CNN (groupy.export.collapse), side by side in one run.

    .venv/bin/python benchmarks/inference_collapse.py [--models P4CNN P4AllCNNC]
        [--batch-mnist 100] [--batch-cifar 8] [--repeats 5]

Variants (all in ``chainer.config.train = False`` and ``no_backprop_mode``, the same fast CPU
convolution underneath):

* ``gcnn``: the model, every SplitGConv2D with ``cache_filters = False`` (the filters are
  transformed on every call, as in training);
* ``gcnn+cache``: the model with its transformed-filter cache (the default in inference);
* ``collapsed``: ``collapse(model)`` (planar convolutions, BN kept);
* ``collapsed+fold``: ``collapse(model, fold_bn=True)``.

The variants run interleaved (round-robin, one warm-up round) so that a machine shared with
other work slows them alike; the median and the minimum per batch are printed with the ratio of
each median to ``gcnn``'s. Outputs are checked to agree (max relative difference printed).
"""
import argparse
import copy
import statistics
import time

import numpy

import chainer

from groupy.export import collapse
from groupy.fast_cpu import get_num_threads
from groupy.gconv.chainer_gconv import SplitGConv2D

MODELS = {
    'P4CNN': ('gconv_experiments.MNIST_ROT.models', 1, 28, 'batch_mnist'),
    'P4AllCNNC': ('gconv_experiments.CIFAR10.models', 3, 32, 'batch_cifar'),
}


def without_cache(model):
    """A copy of model whose G-convolutions transform their filters on every call."""
    model = copy.deepcopy(model)
    for link in model.links():
        if isinstance(link, SplitGConv2D):
            link.cache_filters = False
    return model


def bench_model(name, batch, repeats, seed=0):
    from gconv_experiments.training.models import load_model_class
    package, channels, size, _ = MODELS[name]
    model = load_model_class(name, package)()
    x = numpy.random.RandomState(seed).standard_normal(
        (batch, channels, size, size)).astype(numpy.float32)
    variants = [('gcnn', without_cache(model).logits), ('gcnn+cache', model.logits),
                ('collapsed', collapse(model, x=x[:2])),
                ('collapsed+fold', collapse(model, fold_bn=True, x=x[:2]))]
    times = {label: [] for label, _ in variants}
    outputs = {}
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for round_ in range(repeats + 1):  # round 0 warms up (and fills the cache)
            for label, f in variants:
                start = time.perf_counter()
                outputs[label] = f(x).array
                if round_:
                    times[label].append(time.perf_counter() - start)
    reference = outputs['gcnn']
    scale = float(numpy.abs(reference).max())
    base = statistics.median(times['gcnn'])
    print('{} (batch {}x{}x{}x{}, {} timed rounds):'.format(name, batch, channels, size, size,
                                                           repeats))
    print('  {:16s} {:>12s} {:>12s} {:>10s} {:>12s}'.format(
        'variant', 'median ms', 'min ms', 'vs gcnn', 'max rel diff'))
    for label, _ in variants:
        med = statistics.median(times[label])
        diff = float(numpy.abs(outputs[label] - reference).max()) / scale
        print('  {:16s} {:12.1f} {:12.1f} {:9.2f}x {:12.1e}'.format(
            label, 1e3 * med, 1e3 * min(times[label]), base / med, diff))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', nargs='+', choices=sorted(MODELS), default=sorted(MODELS)[::-1])
    p.add_argument('--batch-mnist', type=int, default=100)
    p.add_argument('--batch-cifar', type=int, default=8)
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args(argv)
    print('fast CPU worker threads: {}'.format(get_num_threads()))
    for name in args.models:
        bench_model(name, getattr(args, MODELS[name][3]), args.repeats)


if __name__ == '__main__':
    main()
