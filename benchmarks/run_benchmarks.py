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
the kernel in use is printed; it applies to this command and the processes it starts only. ``--device gpu`` runs the training steps on CUDA where CuPy sees a
device (PyTorch on CUDA if its build has it) and otherwise says that the GPU suite was skipped.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
REPO = os.path.dirname(HERE)
TORCH_PYTHON = os.path.join(HERE, '.venv-torch', 'bin', 'python')
BLAS_ENV = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')

# (model, batch, size, input channels, timed steps per process)
STEP_MODELS = [('Z2CNN', 128, 28, 1, 5), ('P4CNN', 128, 28, 1, 5), ('P4CNN_RP', 128, 28, 1, 5),
               ('P4MCNN', 128, 28, 1, 5), ('P4AllCNNC', 32, 32, 3, 2),
               ('P4MAllCNNC', 32, 32, 3, 2), ('P4MResNet44', 32, 32, 3, 2)]
OPTIONAL_MODELS = [('AllCNNC', 32, 32, 3, 2)]  # only with --models
SWEEP_MODELS = ('Z2CNN', 'P4CNN', 'P4CNN_RP')  # forward passes timed for the sweep estimate
FORWARD_PASSES = 5


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


# ----------------------------------------------------------------------------- measuring

def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def interleaved(fns, repeats, sync=lambda: None):
    """Seconds per call of each callable, measured round-robin, ``repeats`` rounds of an inner
    loop long enough (~20 ms) for the clock; returns {name: [seconds per call per round]}."""
    inner = {}
    for name, fn in fns.items():
        fn()
        sync()
        start = time.perf_counter()
        fn()
        sync()
        single = time.perf_counter() - start
        inner[name] = max(1, min(200, int(0.02 / max(single, 1e-7))))
    out = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            sync()
            out[name].append((time.perf_counter() - start) / inner[name])
    return out


def row(section, name, ours, ref, **extra):
    r = {'section': section, 'name': name,
         'ours_ms': 1e3 * median(ours), 'ref_ms': 1e3 * median(ref),
         'ours_best_ms': 1e3 * min(ours), 'ref_best_ms': 1e3 * min(ref)}
    r['ratio'] = r['ours_ms'] / r['ref_ms']
    r['ratio_best'] = r['ours_best_ms'] / r['ref_best_ms']
    r.update(extra)
    return r


# ----------------------------------------------------------------------------- sections

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

        t = interleaved({'ours': transform, 'ref': copy}, args.repeats, _sync(xp))
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

        t = interleaved({'ours': gconv, 'ref': plain}, args.repeats, _sync(xp))
        rows.append(row('layers', '{}({}, {}) x({}, {}, {}, {s}, {s}) vs conv {}->{}'.format(
            cls.__name__, cin, cout, n, cin, nis, cin * nis, cout * nos, s=size),
            t['ours'], t['ref']))
    return rows


def _run_json(cmd, env, timeout=1800):
    proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError('{} failed (exit {}):\n{}'.format(
            ' '.join(cmd[:4]), proc.returncode, proc.stderr[-3000:]))
    return json.loads(lines[-1])


def ensure_torch_env():
    """The PyTorch virtualenv's python, creating it if needed; None (with a note) if impossible."""
    if not os.path.exists(TORCH_PYTHON):
        print('creating the PyTorch reference environment (benchmarks/setup_torch_env.sh) ...',
              flush=True)
        proc = subprocess.run(['bash', os.path.join(HERE, 'setup_torch_env.sh'), sys.executable],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        if proc.returncode != 0:
            print('could not create benchmarks/.venv-torch; PyTorch comparisons skipped:\n'
                  + proc.stdout[-2000:])
            return None
    return TORCH_PYTHON


def check_twin(model, batch, size, chans, env, torch_python, tmpdir):
    """Max |logits difference| between the Chainer model and its twin on the same parameters."""
    import numpy as np
    npz = os.path.join(tmpdir, model + '.npz')
    npy = os.path.join(tmpdir, model + '.torch.npy')
    common = ['--model', model, '--batch', str(batch), '--size', str(size),
              '--channels', str(chans)]
    _run_json([sys.executable, os.path.join(HERE, 'step_worker.py')] + common
              + ['--check', npz], env)
    _run_json([torch_python, os.path.join(HERE, 'torch_worker.py')] + common
              + ['--check', npz, '--out', npy], env)
    ours = np.load(npz)['logits']
    return float(np.abs(ours - np.load(npy)).max())


def bench_steps(args, env, device):
    import tempfile
    torch_python = ensure_torch_env()
    rows = []
    sweep_times = {'ours': {}, 'PyTorch': {}}
    for model, batch, size, chans, steps in STEP_MODELS + OPTIONAL_MODELS:
        if model not in args.model_list:
            continue
        if args.quick:
            batch, steps = max(4, batch // 8), 2
        passes = FORWARD_PASSES if model in SWEEP_MODELS and not args.quick else 0
        common = ['--model', model, '--batch', str(batch), '--size', str(size),
                  '--channels', str(chans), '--steps', str(steps), '--warmup', '1',
                  '--device', device, '--forward-passes', str(passes)]
        ours_cmd = [sys.executable, os.path.join(HERE, 'step_worker.py')] + common
        ref_cmd = None if torch_python is None else (
            [torch_python, os.path.join(HERE, 'torch_worker.py')] + common)
        dlogits = None
        if ref_cmd is not None and device == 'cpu':
            with tempfile.TemporaryDirectory() as tmp:
                dlogits = check_twin(model, 8, size, chans, env, torch_python, tmp)
        ours, ref, info = [], [], {}
        for _ in range(args.repeats):
            r = _run_json(ours_cmd, env)
            ours.append(r)
            info = r
            if ref_cmd is not None:
                try:
                    ref.append(_run_json(ref_cmd, env))
                except RuntimeError as err:
                    print('PyTorch side failed, skipped: {}'.format(err))
                    ref_cmd = None
        ours_t = [t for r in ours for t in r['times']]
        if passes:
            sweep_times['ours'][model] = _sweep_times(ours_t, ours)
        extra = {'batch': batch, 'size': size,
                 'ours_peak_rss_mib': max(r['peak_rss_mib'] for r in ours),
                 'ours_step_rss_growth_mib': max(r['peak_rss_mib'] - r['peak_rss_before_steps_mib']
                                                 for r in ours),
                 'fast_conv': info.get('fast_conv'), 'blas': info.get('blas'),
                 'conv_threads': info.get('conv_threads'), 'twin_max_abs_dlogits': dlogits}
        name = '{} step, batch {}, {}x{}'.format(model, batch, size, size)
        if ref:
            ref_t = [t for r in ref for t in r['times']]
            if passes:
                sweep_times['PyTorch'][model] = _sweep_times(ref_t, ref)
            extra.update({'ref_peak_rss_mib': max(r['peak_rss_mib'] for r in ref),
                          'ref_step_rss_growth_mib': max(
                              r['peak_rss_mib'] - r['peak_rss_before_steps_mib'] for r in ref),
                          'torch_version': ref[0]['version'], 'torch_threads': ref[0]['threads']})
            rows.append(row('steps', name + ' vs PyTorch', ours_t, ref_t, **extra))
        else:
            rows.append(dict(row('steps', name + ' (no PyTorch)', ours_t, ours_t, **extra),
                             ref_ms=None, ratio=None, ratio_best=None))
        print('  measured {}'.format(name), flush=True)
    return rows, sweep_times


def _sweep_times(step_times, results):
    """(median step s, median training-mode forward s, median test-mode forward s)."""
    return (median(step_times), median([t for r in results for t in r['fwd_train_times']]),
            median([t for r in results for t in r['fwd_test_times']]))


def _sync(xp):
    if xp.__name__ == 'numpy':
        return lambda: None
    return lambda: xp.cuda.get_current_stream().synchronize()


# ----------------------------------------------------------------------------- output

def _fmt(v, spec):
    return '-' if v is None else format(v, spec)


def print_table(rows):
    header = '{:<64} {:>10} {:>10} {:>7} {:>6} {:>17} {:>10}'.format(
        'benchmark (ours vs reference)', 'ours ms', 'ref ms', 'ratio', 'best',
        'peak RSS MiB o/r', '|dlogits|')
    print(header)
    print('-' * len(header))
    section = None
    for r in rows:
        if r['section'] != section:
            section = r['section']
            print('[{}]'.format(section))
        rss = ''
        if 'ours_peak_rss_mib' in r:
            rss = '{:.0f}/{}'.format(r['ours_peak_rss_mib'], _fmt(r.get('ref_peak_rss_mib'), '.0f'))
            rss += ' (+{:.0f}/{})'.format(r['ours_step_rss_growth_mib'],
                                          _fmt(r.get('ref_step_rss_growth_mib'), '.0f'))
        print('{:<64} {:>10.2f} {:>10} {:>7} {:>6} {:>17} {:>10}'.format(
            r['name'][:64], r['ours_ms'], _fmt(r['ref_ms'], '.2f'), _fmt(r['ratio'], '.2f'),
            _fmt(r['ratio_best'], '.2f'), rss, _fmt(r.get('twin_max_abs_dlogits'), '.1e')))


def machine_info(args):
    import numpy
    info = {'nproc': os.cpu_count(), 'usable_cores': len(os.sched_getaffinity(0))
            if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
            'cpu': platform.processor() or platform.machine(), 'python': platform.python_version(),
            'numpy': numpy.__version__, 'fast_conv': not args.no_fast_conv,
            'native_blas': args.native_blas, 'threads': args.threads, 'repeats': args.repeats,
            'device': args.device, 'date': time.strftime('%Y-%m-%d %H:%M:%S'),
            'loadavg_start': os.getloadavg()}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import threadpoolctl
        info['blas'] = ['{} {} kernel={} threads={}'.format(
            d.get('prefix'), d.get('version'), d.get('architecture'), d.get('num_threads'))
            for d in threadpoolctl.threadpool_info() if d.get('user_api') == 'blas']
    except ImportError:
        info['blas'] = []
    return info


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
    print('fast CPU conv: {} (threads {}), load average at start: {:.2f}'.format(
        'on' if meta['fast_conv'] else "off (Chainer's own)", cpu_conv2d.get_num_threads(),
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
