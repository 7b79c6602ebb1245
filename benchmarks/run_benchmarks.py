"""One command for the project's speed and memory comparisons, measured side by side in one run.

    .venv/bin/python benchmarks/run_benchmarks.py [--repeats N] [--json out.json]
        [--device cpu|gpu] [--no-fast-conv] [--native-blas] [--threads N]
        [--only transform,layers,steps] [--quick]

Sections of the table (every ratio is ours / reference, so lower is better):

* ``transform``: TransformGFilter forward + backward against a plain copy (``F.tile``) of the
  same filter bank to the transformed size: the overhead of the gather/scatter-add.
* ``layers``: each G-conv link (P4ConvZ2, P4ConvP4, P4MConvZ2, P4MConvP4M) forward + backward
  against one plain convolution with the same effective channels (in * nis -> out * nos),
  run through the same ``convolution_2d`` the links use.
* ``steps``: one training step (forward, backward, Adam update) of the MNIST-rot models
  Z2CNN, P4CNN (as released: no dropout), P4CNN_RP, P4MCNN (batch 128, 28x28) and the CIFAR10
  models P4AllCNNC, P4MAllCNNC, P4MResNet44 (batch 32, 32x32, 3 channels), the project's Chainer
  model against its PyTorch twin (``benchmarks/torch_models.py``, run by
  ``benchmarks/torch_worker.py`` in its own virtualenv ``benchmarks/.venv-torch``, created on
  demand by ``benchmarks/setup_torch_env.sh``), both sides with the same thread count. Each
  side runs in a fresh process, alternating, ``--repeats`` rounds; peak RSS is that process's
  peak resident set (VmHWM, i.e. ``ru_maxrss`` without the parent's peak that Linux carries
  over fork + exec; imports included; "+step" is the growth during the steps). Before timing,
  the twin is loaded with the Chainer model's parameters and must give the same logits
  (column ``|dlogits|``). For Z2CNN, P4CNN and P4CNN_RP the forward passes of evaluation and
  BN re-estimation are timed too, and the CPU time of the paper's MNIST-rot sweep is estimated
  from them (``benchmarks/sweep_estimate.py``).

Timings are medians over the repeats ("best" is the ratio of the fastest runs, which is less
sensitive to other processes on the machine); the table is also written as JSON (``--json``).
``--no-fast-conv`` measures with Chainer's own convolution (sets ``GROUPY_FAST_CPU_CONV=0``),
for the before/after comparison of ``groupy.fast_cpu.conv2d``.
``--native-blas`` drops OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE from the environment (set on some
machines to work around old OpenBLAS builds) so that OpenBLAS picks its kernel for the CPU;
the kernel in use is printed; it applies to this command and the processes it starts only.
``--device gpu`` runs the training steps on CUDA where CuPy sees a device (PyTorch on CUDA if
its build has it) and otherwise says that the GPU suite was skipped.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
BLAS_ENV = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')

from bench_layers import bench_layers, bench_transform  # noqa: E402 (this folder, set above)
from bench_steps import OPTIONAL_MODELS, STEP_MODELS, bench_steps  # noqa: E402
from bench_table import machine_info, print_table  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Side-by-side speed/memory table: TransformGFilter, G-conv links, training '
                    'steps against PyTorch.')
    p.add_argument('--repeats', type=int, default=5,
                   help='rounds per measurement (medians are taken over them)')
    p.add_argument('--json', help='also write the table to this JSON file')
    p.add_argument('--device', choices=['cpu', 'gpu'], default='cpu')
    p.add_argument('--no-fast-conv', action='store_true',
                   help="use Chainer's own CPU convolution (the 'before' table)")
    p.add_argument('--native-blas', action='store_true',
                   help='unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this run')
    p.add_argument('--threads', type=int,
                   help='threads for both sides (BLAS, OpenMP, torch, our conv); default: the '
                        'usable cores')
    p.add_argument('--only', default='transform,layers,steps',
                   help='comma-separated sections to run')
    p.add_argument('--models', default=','.join(m[0] for m in STEP_MODELS),
                   help='models of the steps section')
    p.add_argument('--quick', action='store_true', help='smaller sizes, for a smoke test')
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    if args.threads is not None and args.threads < 1:
        p.error('--threads must be >= 1')
    sections = set(args.only.split(','))
    unknown = sections - {'transform', 'layers', 'steps'}
    if unknown:
        p.error('--only: unknown sections {} (choose from transform, layers, steps)'.format(
            sorted(unknown)))
    args.sections = sections
    if args.threads is None:
        args.threads = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
            else (os.cpu_count() or 1)
    known = {m[0] for m in STEP_MODELS + OPTIONAL_MODELS}
    args.model_list = [m for m in args.models.split(',') if m]
    if set(args.model_list) - known:
        p.error('--models: unknown {} (choose from {})'.format(
            sorted(set(args.model_list) - known), sorted(known)))
    return args


def child_env(args):
    """The environment of this run and of the processes it starts."""
    env = dict(os.environ)
    if args.native_blas:
        for name in BLAS_ENV:
            env.pop(name, None)
    env['GROUPY_FAST_CPU_CONV'] = '0' if args.no_fast_conv else '1'
    if args.threads:
        for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS',
                     'GROUPY_CPU_CONV_THREADS'):
            env[name] = str(args.threads)
    env['PYTHONWARNINGS'] = 'ignore'
    return env


def _reexec_if_needed(args, argv):
    """Environment variables read at import time (BLAS kernel, threads) need a fresh process."""
    env = child_env(args)
    if os.environ.get('_GROUPY_BENCH_CHILD') != '1' and any(
            os.environ.get(k) != env.get(k) for k in set(env) | set(os.environ)):
        env['_GROUPY_BENCH_CHILD'] = '1'
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + argv, env)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    _reexec_if_needed(args, argv)
    env = child_env(args)

    import numpy
    import chainer
    from groupy.fast_cpu import conv2d as cpu_conv2d  # noqa: F401 (config)
    from groupy.gconv.chainer_gconv import gpu_available
    chainer.global_config.groupy_fast_cpu_conv = not args.no_fast_conv

    meta = machine_info(args)
    print('machine: {} ({} cores usable), numpy {}, BLAS: {}'.format(
        meta['cpu'], meta['usable_cores'], meta['numpy'], '; '.join(meta['blas'])))
    print('fast CPU conv: {} (threads {}), compiled kernels (numba): {}, load average at start: '
          '{:.2f}'.format('on' if meta['fast_conv'] else "off (Chainer's own)",
                          cpu_conv2d.get_num_threads(),
                          'on' if meta['compiled_kernels'] else 'off',
                          meta['loadavg_start'][0]))
    if meta['loadavg_start'][0] > 0.5 * meta['usable_cores']:
        print('WARNING: the machine is busy (load {:.2f}); timings, especially PyTorch\'s '
              '(OpenMP spin-waits), will be noisy'.format(meta['loadavg_start'][0]))

    suites = [('cpu', numpy, chainer.get_device('@numpy'))]
    if args.device == 'gpu':
        if gpu_available():
            import cupy
            suites = [('gpu', cupy, chainer.get_device('@cupy:0'))]
        else:
            print('GPU suite skipped: no usable CUDA device (gpu_available() is False)')
            suites = []
    rows, sweep_times = [], {}
    for device_name, xp, device in suites:
        if 'transform' in args.sections:
            rows += bench_transform(args, xp, device)
        if 'layers' in args.sections:
            rows += bench_layers(args, xp, device)
        if 'steps' in args.sections:
            step_rows, sweep_times = bench_steps(args, env, device_name)
            rows += step_rows
    meta['loadavg_end'] = os.getloadavg()
    if rows:
        print()
        print_table(rows)
    if sweep_times and args.device == 'cpu':
        from sweep_estimate import estimate, print_estimate
        print_estimate(sweep_times, args.threads)
        meta['sweep_estimate'] = {side: estimate(t, args.threads)
                                  for side, t in sweep_times.items()}
        meta['sweep_times_s'] = sweep_times
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'meta': meta, 'rows': rows}, f, indent=1)
        print('\nwrote {}'.format(args.json))
    return 0


if __name__ == '__main__':
    sys.exit(main())
