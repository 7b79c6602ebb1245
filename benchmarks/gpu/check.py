"""The checks of ``benchmarks/gpu_check.sh`` after the install, one sub-command each, each
printing one JSON object (the script gathers them into one summary):

    check.py compare [--dry-run]      TransformGFilter and every G-conv link, float16/32/64:
                                      forward and backward on the GPU against the CPU
    check.py train --datadir D --resultdir R [--gpu 0]
                                      P4CNN for one epoch on the embedded rotated digits
                                      (the training command line), loss before vs after
    check.py steps [--device gpu] [--torch-python PY]
                                      P4CNN (batch 128, 28x28) and P4AllCNNC (batch 128,
                                      32x32x3) training steps beside their PyTorch twins
                                      (benchmarks/step_worker.py; torch_worker.py runs the
                                      twins of torch_models.py)
    check.py gpu-tests                every gpu-marked test and the NVRTC kernel compiles
    check.py env                      versions and the device seen
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
from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2, gpu_available
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

            def both():
                cpu = forward_backward(lambda v: transform_filter(v, inds), [w], 2)
                gpu = forward_backward(lambda v: transform_filter(v, inds), [dev.send(w)], 2)
                return gpu, cpu

            rows.append(_guarded_row('TransformGFilter ' + name, dtype, ('y', 'gW'), both))
    return rows


def compare_links(dev, batch=2, size=9):
    rows = []
    for cls, nti in LINKS:
        for dtype in DTYPES:
            link = cls(3, 4, ksize=3, pad=1, dtype=dtype, initial_bias=0.1)
            x_shape = (batch, 3, size, size) if nti == 1 else (batch, 3, nti, size, size)
            x = np.random.RandomState(3).standard_normal(x_shape).astype(dtype)

            def both():
                cpu = forward_backward(lambda v: _with_param_grads(link, v), [x], 4)
                gpu_link = link.copy(mode='copy')
                gpu_link.to_device(dev)
                gpu = forward_backward(lambda v: _with_param_grads(gpu_link, v), [dev.send(x)], 4)
                return (gpu + [gpu_link.W.grad, gpu_link.b.grad],
                        cpu + [link.W.grad, link.b.grad])

            rows.append(_guarded_row(cls.__name__, dtype, ('y', 'gx', 'gW', 'gb'), both))
    return rows


def _with_param_grads(link, x):
    link.cleargrads()
    return link(x)


def _guarded_row(what, dtype, names, both):
    """_row of `both()` (-> gpu arrays, cpu arrays), or a failed row naming the exception."""
    try:
        gpu, cpu = both()
    except Exception as e:  # one failing case must not hide the others
        return {'what': what, 'dtype': np.dtype(dtype).name, 'error': repr(e)[:1000],
                'max_rel_diff': float('inf'), 'ok': False}
    return _row(what, dtype, names, gpu, cpu)


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


BENCHMARKS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_MODELS = (('P4CNN', 128, 28, 1), ('P4AllCNNC', 128, 32, 3))
TWIN_WORKER = 'torch_worker.py'  # runs the twins of torch_models.py


def _worker(python, script, model, batch, size, channels, args):
    cmd = [python, os.path.join(BENCHMARKS, script), '--model', model, '--batch', str(batch),
           '--size', str(size), '--channels', str(channels), '--steps', str(args.steps),
           '--warmup', str(args.warmup), '--device', args.device]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=BENCHMARKS,
                              timeout=args.timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'error': str(e), 'command': ' '.join(cmd)}
    try:
        if proc.returncode != 0:
            raise ValueError('exit status {}'.format(proc.returncode))
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result['times']
    except (ValueError, IndexError, KeyError, TypeError) as e:
        return {'error': '{}; stdout: {} stderr: {}'.format(e, proc.stdout[-300:],
                                                           proc.stderr[-1200:]),
                'command': ' '.join(cmd)}
    return {'median_s': float(np.median(result['times'])), 'times': result['times'],
            'peak_rss_mib': result.get('peak_rss_mib')}


def run_steps(args):
    """Median step times (forward, backward, Adam) of each model, ours and the twin's, each in
    a fresh process, and ours / twin."""
    rows = []
    for model, batch, size, channels in STEP_MODELS:
        batch = args.batch or batch
        ours = _worker(sys.executable, 'step_worker.py', model, batch, size, channels, args)
        twin = (_worker(args.torch_python, TWIN_WORKER, model, batch, size, channels, args)
                if args.torch_python else {'error': 'no --torch-python'})
        row = {'model': model, 'batch': batch, 'input': [channels, size, size],
               'device': args.device, 'chainer': ours, 'torch': twin}
        if 'median_s' in ours and 'median_s' in twin:
            row['ratio_chainer_over_torch'] = ours['median_s'] / twin['median_s']
        rows.append(row)
    return {'steps': rows}


REPO = os.path.dirname(BENCHMARKS)


def _pytest(args_list, timeout):
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *args_list]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return {'command': ' '.join(cmd), 'returncode': None, 'summary': 'timed out',
                'output_tail': str(e.stdout or '')[-3000:]}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {'command': ' '.join(cmd), 'returncode': proc.returncode,
            'summary': lines[-1] if lines else '', 'output_tail': proc.stdout[-3000:]}


def run_gpu_tests(args):
    return {'gpu_tests': _pytest(['-m', 'gpu', '-rs', 'tests'], args.timeout),
            'nvrtc_compile_tests': _pytest(
                ['tests/groupy/gconv/chainer_gconv/kernels', '-rs'], args.timeout)}


def run_env(args):
    import platform
    env = {'python': platform.python_version(), 'numpy': np.__version__,
           'chainer': chainer.__version__, 'compat_patches': list(_applied_patches())}
    try:
        import cupy
        env['cupy'] = cupy.__version__
        env['cuda_runtime'] = cupy.cuda.runtime.runtimeGetVersion()
        env['gpu_available'] = gpu_available()
        if env['gpu_available']:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            env['device'] = props['name'].decode() if isinstance(props['name'], bytes) \
                else props['name']
            env['compute_capability'] = '{}.{}'.format(props['major'], props['minor'])
            env['cuda_driver'] = cupy.cuda.runtime.driverGetVersion()
        env['chainer_cuda_available'] = bool(chainer.backends.cuda.available)
        env['chainer_cudnn_enabled'] = bool(chainer.backends.cuda.cudnn_enabled)
    except Exception as e:  # no CuPy, no driver
        env['cupy_error'] = repr(e)
    try:
        import torch
        env['torch'] = torch.__version__
        env['torch_cuda'] = bool(torch.cuda.is_available())
    except Exception as e:
        env['torch_error'] = repr(e)
    return {'env': env}


def _applied_patches():
    from groupy._compat import patches
    return patches.applied()


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


def _imports(python, module):
    return subprocess.run([python, '-c', 'import ' + module], capture_output=True).returncode == 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    c = sub.add_parser('compare')
    c.add_argument('--dry-run', action='store_true', help='NumPy in place of CuPy (no GPU)')
    t = sub.add_parser('train')
    t.add_argument('--datadir', required=True)
    t.add_argument('--resultdir', required=True)
    t.add_argument('--gpu', type=int, default=0, help='-1: the CPU (dry run)')
    st = sub.add_parser('steps')
    st.add_argument('--device', choices=['cpu', 'gpu'], default='gpu')
    st.add_argument('--torch-python', help='interpreter with torch (default: this one if it '
                    'imports torch)')
    st.add_argument('--batch', type=int, help='instead of each model\'s batch of 128 (dry run)')
    st.add_argument('--steps', type=int, default=10)
    st.add_argument('--warmup', type=int, default=3)
    st.add_argument('--timeout', type=float, default=120, help='seconds per worker process')
    g = sub.add_parser('gpu-tests')
    g.add_argument('--timeout', type=float, default=140, help='seconds per pytest run')
    sub.add_parser('env')
    s = sub.add_parser('summary')
    s.add_argument('parts', nargs='+')
    args = p.parse_args(argv)
    if args.command == 'steps' and args.torch_python is None:
        args.torch_python = sys.executable if _imports(sys.executable, 'torch') else None
    if getattr(args, 'torch_python', None) and os.sep in args.torch_python:
        args.torch_python = os.path.abspath(args.torch_python)  # the workers run in benchmarks/
    commands = {'compare': run_compare, 'train': run_train, 'steps': run_steps,
                'gpu-tests': run_gpu_tests, 'env': run_env, 'summary': run_summary}
    result = commands[args.command](args)
    print(json.dumps(result, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
