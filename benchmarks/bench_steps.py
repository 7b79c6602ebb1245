"""The ``steps`` section of ``benchmarks/run_benchmarks.py``: training steps of the project's
models (``step_worker.py``) against their PyTorch twins (``torch_worker.py`` in
``benchmarks/.venv-torch``), each side in fresh processes, alternating; the twin's logits are
checked against the Chainer model's first; peak RSS per side; the step and forward-pass times of
the MNIST-rot models for the sweep estimate (``sweep_estimate.py``)."""
import json
import os
import subprocess
import sys

from bench_timing import median, row

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TORCH_PYTHON = os.path.join(HERE, '.venv-torch', 'bin', 'python')

# (model, batch, size, input channels, timed steps per process)
STEP_MODELS = [('Z2CNN', 128, 28, 1, 5), ('P4CNN', 128, 28, 1, 5), ('P4CNN_RP', 128, 28, 1, 5),
               ('P4MCNN', 128, 28, 1, 5), ('P4AllCNNC', 32, 32, 3, 2),
               ('P4MAllCNNC', 32, 32, 3, 2), ('P4MResNet44', 32, 32, 3, 2)]
OPTIONAL_MODELS = [('AllCNNC', 32, 32, 3, 2)]  # only with --models
SWEEP_MODELS = ('Z2CNN', 'P4CNN', 'P4CNN_RP')  # forward passes timed for the sweep estimate
FORWARD_PASSES = 5


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
