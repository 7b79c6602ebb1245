"""Chainer side of ``benchmarks/run_benchmarks.py``: times training steps of one project model
in a fresh process and prints one JSON line.

A step is ``model.cleargrads(); loss, acc = model(x, t); loss.backward(); Adam.update()`` on a
fixed random batch. JSON fields: ``times`` (seconds of each timed step), ``peak_rss_mib`` (the
process's peak resident set size, VmHWM, after the steps), ``peak_rss_before_steps_mib``
(the same before the first step: imports, model and data), ``blas`` (the BLAS libraries,
kernels and thread counts that threadpoolctl sees) and ``fast_conv`` (whether the G-conv links
use groupy's CPU convolution; ``GROUPY_FAST_CPU_CONV=0`` switches it off).

With ``--check FILE`` it instead writes the model's parameters, an input batch and the logits
in training mode without dropout to ``FILE`` (npz), for the PyTorch twin to compare against.
"""
import importlib
import sys

import numpy as np

import groupy  # noqa: F401  (its warning filter must precede the first chainer import)
import chainer

from groupy import fast_cpu
from step_common import random_batch, run_worker, step_parser, time_forward, time_steps

# name -> (module, class, constructor kwargs, kwargs that switch dropout off)
MODELS = {
    'Z2CNN': ('gconv_experiments.MNIST_ROT.models.Z2CNN', 'Z2CNN', {}, {'dropout': 0}),
    'P4CNN': ('gconv_experiments.MNIST_ROT.models.P4CNN', 'P4CNN', {}, {}),
    'P4CNN_RP': ('gconv_experiments.MNIST_ROT.models.P4CNN_RP', 'P4CNN_RP', {}, {}),
    'P4MCNN': ('gconv_experiments.MNIST_ROT.models.P4MCNN', 'P4MCNN', {}, {}),
    'AllCNNC': ('gconv_experiments.CIFAR10.models.AllCNNC', 'AllCNNC', {}, {'dropout': False}),
    'P4AllCNNC': ('gconv_experiments.CIFAR10.models.P4AllCNNC', 'P4AllCNNC', {},
                  {'dropout': False}),
    'P4MAllCNNC': ('gconv_experiments.CIFAR10.models.P4MAllCNNC', 'P4MAllCNNC', {},
                   {'dropout': False}),
    # the paper's p4m-ResNet44 (release --net_kwargs)
    'P4MResNet44': ('gconv_experiments.CIFAR10.models.P4MResNet', 'P4MResNet',
                    {'num_blocks': 7, 'nc32': 11, 'nc16': 23, 'nc8': 45}, {}),
}


def build_model(name, no_dropout=False):
    module, cls_name, kwargs, no_dropout_kwargs = MODELS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(**kwargs, **(no_dropout_kwargs if no_dropout else {}))


def blas_info():
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{'lib': d.get('prefix'), 'version': d.get('version'),
             'kernel': d.get('architecture'), 'threads': d.get('num_threads')}
            for d in threadpoolctl.threadpool_info() if d.get('user_api') == 'blas']


def _batch(args):
    x, t = random_batch(args)
    return x, t.astype(np.int32)


def run_steps(args):
    if args.device == 'cpu':
        fast_cpu.keep_freed_memory()  # as gconv_experiments.training does for CPU runs
    np.random.seed(args.seed)
    model = build_model(args.model)
    x, t = _batch(args)
    if args.device == 'gpu':
        device = chainer.get_device('@cupy:0')
        model.to_device(device)
        x, t = device.send(x), device.send(t)
    opt = chainer.optimizers.Adam(alpha=1e-3)
    opt.setup(model)

    def step():
        model.cleargrads()
        loss, _ = model(x, t)
        loss.backward()
        opt.update()
        if args.device == 'gpu':
            chainer.backends.cuda.Stream.null.synchronize()

    def forward(train):
        with chainer.using_config('train', train), chainer.no_backprop_mode():
            model.logits(x)
        if args.device == 'gpu':
            chainer.backends.cuda.Stream.null.synchronize()

    measured = time_steps(step, args)
    measured.update(time_forward(forward, args))
    from groupy.fast_cpu import conv2d as cpu_conv2d
    return {'side': 'chainer', 'model': args.model, **measured,
            'blas': blas_info(), 'fast_conv': bool(chainer.config.groupy_fast_cpu_conv),
            'conv_threads': cpu_conv2d.get_num_threads(), 'device': args.device}


def run_check(args):
    np.random.seed(args.seed)
    model = build_model(args.model, no_dropout=True)
    x, _ = _batch(args)
    with chainer.using_config('train', True), chainer.no_backprop_mode():
        logits = model.logits(x).array
    arrays = {'param:' + name: p.array for name, p in model.namedparams()}
    np.savez(args.check, x=x, logits=logits, **arrays)
    return {'side': 'chainer', 'model': args.model, 'check': args.check}


def main(argv=None):
    p = step_parser('Chainer side of benchmarks/run_benchmarks.py', MODELS,
                    'write parameters, input and logits to this npz and exit')
    return run_worker(p, argv, run_check, run_steps)


if __name__ == '__main__':
    sys.exit(main())
