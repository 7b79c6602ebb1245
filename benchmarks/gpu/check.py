"""The checks of ``benchmarks/gpu_check.sh`` after the install, one sub-command each, each
printing one JSON object (the script gathers them into one summary):

    check.py compare [--dry-run]      TransformGFilter and every G-conv link, float16/32/64:
                                      forward and backward on the GPU against the CPU
    check.py train --datadir D --resultdir R [--gpu 0]
                                      P4CNN for one epoch on the embedded rotated digits
                                      (the training command line), loss before vs after
    check.py summary FILE...          merge the parts into one JSON object

``--dry-run`` (no GPU) runs the same code with NumPy standing in for CuPy, so everything but the
device itself is exercised here: the differences are then 0 by construction.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

import groupy  # noqa: F401  (groupy._compat before chainer)
import chainer

from groupy.gconv import make_gconv_indices as mgi
from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2
from groupy.gconv.chainer_gconv.transform_filter import transform_filter

DTYPES = (np.float16, np.float32, np.float64)
# largest accepted max|gpu - cpu| / max|cpu| per dtype: cuBLAS/cuDNN sum in other orders
TOLERANCE = {np.float16: 2e-2, np.float32: 1e-4, np.float64: 1e-10}
TRANSFORMS = (  # name, index table maker, input stabiliser size
    ('Z2->p4', mgi.make_c4_z2_indices, 1), ('p4->p4', mgi.make_c4_p4_indices, 4),
    ('Z2->p4m', mgi.make_d4_z2_indices, 1), ('p4m->p4m', mgi.make_d4_p4m_indices, 8))
LINKS = ((P4ConvZ2, 1), (P4ConvP4, 4), (P4MConvZ2, 1), (P4MConvP4M, 8))


def relative_difference(gpu, cpu):
    """max |gpu - cpu| / max |cpu| (computed in float64 on the CPU)."""
    gpu = np.asarray(chainer.backend.CpuDevice().send(gpu), dtype=np.float64)
    cpu = np.asarray(cpu, dtype=np.float64)
    if gpu.shape != cpu.shape:
        raise AssertionError('shapes differ: {} vs {}'.format(gpu.shape, cpu.shape))
    scale = max(float(np.abs(cpu).max()), np.finfo(np.float64).tiny)
    return float(np.abs(gpu - cpu).max()) / scale


def device(dry_run):
    return chainer.get_device('@numpy' if dry_run else '@cupy:0')


def forward_backward(fn, inputs, gy_seed):
    """y = fn(*inputs) and the gradients of sum(y * gy) w.r.t. the inputs (gy fixed by seed)."""
    xs = [chainer.Variable(x) for x in inputs]
    y = fn(*xs)
    xp = chainer.backend.get_array_module(y.array)
    gy = np.random.RandomState(gy_seed).standard_normal(y.shape).astype(y.dtype)
    y.grad = xp.asarray(gy)
    y.backward()
    return [y.array] + [x.grad for x in xs]


def compare_transforms(dev, ksize=3):
    rows = []
    for name, make_indices, nti in TRANSFORMS:
        inds = make_indices(ksize)
        for dtype in DTYPES:
            w = np.random.RandomState(1).standard_normal((5, 3, nti, ksize, ksize)).astype(dtype)
            cpu = forward_backward(lambda v: transform_filter(v, inds), [w], 2)
            gpu = forward_backward(lambda v: transform_filter(v, inds), [dev.send(w)], 2)
            rows.append(_row('TransformGFilter ' + name, dtype, ('y', 'gW'), gpu, cpu))
    return rows


def compare_links(dev, batch=2, size=9):
    rows = []
    for cls, nti in LINKS:
        for dtype in DTYPES:
            link = cls(3, 4, ksize=3, pad=1, dtype=dtype, initial_bias=0.1)
            x_shape = (batch, 3, size, size) if nti == 1 else (batch, 3, nti, size, size)
            x = np.random.RandomState(3).standard_normal(x_shape).astype(dtype)
            cpu = forward_backward(lambda v: _with_param_grads(link, v), [x], 4)
            gpu_link = link.copy(mode='copy')
            gpu_link.to_device(dev)
            gpu = forward_backward(lambda v: _with_param_grads(gpu_link, v), [dev.send(x)], 4)
            cpu += [link.W.grad, link.b.grad]
            gpu += [gpu_link.W.grad, gpu_link.b.grad]
            rows.append(_row(cls.__name__, dtype, ('y', 'gx', 'gW', 'gb'), gpu, cpu))
    return rows


def _with_param_grads(link, x):
    link.cleargrads()
    return link(x)


def _row(what, dtype, names, gpu, cpu):
    diffs = {n: relative_difference(g, c) for n, g, c in zip(names, gpu, cpu)}
    worst = max(diffs.values())
    return {'what': what, 'dtype': np.dtype(dtype).name, 'rel_diff': diffs,
            'max_rel_diff': worst, 'ok': bool(worst <= TOLERANCE[dtype])}


def run_compare(args):
    dev = device(args.dry_run)
    rows = compare_transforms(dev) + compare_links(dev)
    per_dtype = {}
    for row in rows:
        per_dtype[row['dtype']] = max(per_dtype.get(row['dtype'], 0.0), row['max_rel_diff'])
    return {'compare': {'device': str(dev), 'ok': all(r['ok'] for r in rows),
                        'max_rel_diff_per_dtype': per_dtype,
                        'tolerance': {np.dtype(k).name: v for k, v in TOLERANCE.items()},
                        'rows': rows}}


def run_train(args):
    """Train P4CNN one epoch with the training command line on --gpu; its logged losses must
    fall clearly below ln 10, the loss of an untrained (uniform) 10-way classifier."""
    from gconv_experiments.MNIST_ROT import digits_rot
    digits_rot.save_digits_rot(args.datadir)
    cmd = [sys.executable, '-m', 'gconv_experiments.MNIST_ROT.train', '--datadir', args.datadir,
           '--resultdir', args.resultdir, '--modelfn', 'P4CNN', '--epochs', '1',
           '--batchsize', '32', '--gpu', str(args.gpu), '--seed', '0', '--quiet',
           '--net_kwargs', "{'dropout': 0}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = {'command': ' '.join(cmd), 'returncode': proc.returncode,
           'stderr_tail': proc.stderr[-2000:]}
    log = os.path.join(args.resultdir, 'log.jsonl')
    if proc.returncode == 0 and os.path.exists(log):
        with open(log) as f:
            out['log'] = [json.loads(line) for line in f if line.strip()]
        epoch = out['log'][-1]
        losses = [v for k, v in epoch.items() if k.endswith('loss') and isinstance(v, float)]
        # an untrained 10-way classifier sits near ln 10; one epoch must get clearly below it
        out['chance_loss'] = math.log(10)
        out['ok'] = bool(losses) and all(v < 0.8 * math.log(10) for v in losses)
    else:
        out['ok'] = False
    return {'train': out}


def run_summary(args):
    summary = {}
    for path in args.parts:
        try:
            with open(path) as f:
                text = f.read().strip().splitlines()
            summary.update(json.loads(text[-1]) if text else {os.path.basename(path): None})
        except (OSError, ValueError) as e:
            summary[os.path.basename(path)] = {'error': str(e)}
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    c = sub.add_parser('compare')
    c.add_argument('--dry-run', action='store_true', help='NumPy in place of CuPy (no GPU)')
    t = sub.add_parser('train')
    t.add_argument('--datadir', required=True)
    t.add_argument('--resultdir', required=True)
    t.add_argument('--gpu', type=int, default=0, help='-1: the CPU (dry run)')
    s = sub.add_parser('summary')
    s.add_argument('parts', nargs='+')
    args = p.parse_args(argv)
    result = {'compare': run_compare, 'train': run_train, 'summary': run_summary}[args.command](args)
    print(json.dumps(result, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
