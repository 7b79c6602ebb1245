"""Where the time of one training step goes: self time of every Chainer function, forward and
backward separately, plus the optimizer update and the rest (Python, graph bookkeeping); with
``--torch`` also the PyTorch twin's ``torch.profiler`` table (self CPU time per op) for the
same model, batch and thread count.

    .venv/bin/python benchmarks/profile_step.py [--model P4CNN] [--steps 3] [--threads N]
        [--no-fast-conv] [--torch] [--by-shape]

``--by-shape`` gives one row per function and the shapes of its first two inputs (a
convolution's x and W, its weight gradient's x and gy), to see which layers take the time.

A FunctionNode's backward usually applies other FunctionNodes (that is how double backprop
works); their time is charged to them, not to the node whose backward called them ("self"
time), so the column adds up to the hooked total.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

DEFAULT_SHAPES = {'Z2CNN': (128, 28, 1), 'P4CNN': (128, 28, 1), 'P4CNN_RP': (128, 28, 1),
                  'P4MCNN': (128, 28, 1), 'AllCNNC': (32, 32, 3), 'P4AllCNNC': (32, 32, 3),
                  'P4MAllCNNC': (32, 32, 3), 'P4MResNet44': (32, 32, 3)}
THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS',
               'GROUPY_CPU_CONV_THREADS')


# op groups of the side-by-side summary: (group, Chainer labels, torch.profiler op names)
GROUPS = [
    ('conv forward', ('Convolution2DCPU', 'Convolution2DFunction'),
     ('aten::mkldnn_convolution', 'aten::_convolution', 'aten::thnn_conv2d',
      'aten::_slow_conv2d_forward')),
    ('conv backward', ('ConvTranspose2DCPU', 'Convolution2DGradWCPU', 'Deconvolution2DFunction',
                       'Convolution2DGradW'),
     ('aten::convolution_backward', 'aten::_slow_conv2d_backward')),
    ('G-filter transform', ('TransformGFilter', 'TransformGFilterAdjoint'),
     ('aten::rot90', 'aten::flip', 'aten::roll', 'aten::stack', 'aten::cat',
      'aten::index_select', 'aten::repeat_interleave', 'aten::index_add_')),
    # (the fused BN + ReLU nodes of groupy.fast_cpu count as BN, their ReLU included)
    ('BN forward', ('BatchNormalization', 'BatchNormalizationFunction',
                    'BatchNormalizationReLUFunction', 'FixedBatchNormalization'),
     ('aten::native_batch_norm',)),
    ('BN backward', ('BatchNormalizationGrad', 'BatchNormalizationGradCPU',
                     'BatchNormalizationReLUGradCPU', 'FixedBatchNormalizationGrad'),
     ('aten::native_batch_norm_backward',)),
    ('ReLU fwd+bwd', ('ReLU', 'ReLUGrad', 'ReLUGrad2'),
     ('aten::clamp_min', 'aten::threshold_backward', 'aten::relu')),
    ('pooling / max', ('MaxPooling2x2CPU', 'MaxPooling2x2ScatterCPU', 'MaxPooling2x2GatherCPU',
                       'MaxPoolingND', 'MaxPoolingNDGrad', 'MaxPoolingNDWithIndexes',
                       'MaxPooling2D', 'MaxPooling2DGrad', 'Max', 'BroadcastTo'),
     ('aten::max_pool2d_with_indices', 'aten::max_pool2d_with_indices_backward', 'aten::amax',
      'aten::max')),
    ('dropout', ('Dropout', 'DropoutGrad'), ('aten::bernoulli_', 'aten::native_dropout',
                                             'aten::native_dropout_backward')),
]


def group_times(self_ms, side):
    """{group: ms per step} of a {label: self ms per step} table; the rest is 'other'."""
    column = 1 if side == 'chainer' else 2
    out = {g[0]: 0.0 for g in GROUPS}
    out['other'] = 0.0
    for label, ms in self_ms.items():
        group = next((g[0] for g in GROUPS if label in g[column]), 'other')
        out[group] += ms
    return out


def _hook_class():
    from chainer import function_hook

    class SelfTimeHook(function_hook.FunctionHook):
        name = 'SelfTimeHook'

        def __init__(self, by_shape=False):
            self.by_shape = by_shape
            self.stack = []   # [start, time spent in nested functions]
            self.table = {}   # (label, phase) -> [calls, self seconds]

        def _pre(self):
            self.stack.append([time.perf_counter(), 0.0])

        def _post(self, function, phase, in_data):
            start, nested = self.stack.pop()
            elapsed = time.perf_counter() - start
            if self.stack:
                self.stack[-1][1] += elapsed
            label = function.label
            if self.by_shape:  # the shapes of the first two inputs, e.g. x and W
                label += ' @ ' + ' '.join('x'.join(map(str, a.shape)) for a in in_data[:2]
                                          if a is not None)
            entry = self.table.setdefault((label, phase), [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed - nested

        def forward_preprocess(self, function, in_data):
            self._pre()

        def forward_postprocess(self, function, in_data):
            self._post(function, 'fwd', in_data)

        def backward_preprocess(self, function, in_data, out_grad):
            self._pre()

        def backward_postprocess(self, function, in_data, out_grad):
            self._post(function, 'bwd', in_data)

    return SelfTimeHook


def profile_chainer(args, batch, size, chans):
    import numpy as np
    import chainer
    import step_worker
    from groupy import fast_cpu
    chainer.global_config.groupy_fast_cpu_conv = not args.no_fast_conv
    fast_cpu.keep_freed_memory()
    np.random.seed(0)
    model = step_worker.build_model(args.model)
    rng = np.random.RandomState(0)
    x = rng.standard_normal((batch, chans, size, size)).astype(np.float32)
    t = rng.randint(0, 10, batch).astype(np.int32)
    opt = chainer.optimizers.Adam()
    opt.setup(model)

    def step(hook=None, clock=None):
        model.cleargrads()
        if hook is not None:
            with hook:
                loss, _ = model(x, t)
                loss.backward()
        else:
            loss, _ = model(x, t)
            loss.backward()
        start = time.perf_counter()
        opt.update()
        if clock is not None:
            clock['update'] += time.perf_counter() - start

    step()
    hook = _hook_class()(args.by_shape)
    clock = {'update': 0.0}
    start = time.perf_counter()
    for _ in range(args.steps):
        step(hook, clock)
    total = (time.perf_counter() - start) / args.steps

    rows = sorted(((v[1] / args.steps, v[0] // args.steps, k) for k, v in hook.table.items()),
                  reverse=True)
    hooked = sum(r[0] for r in rows)
    update = clock['update'] / args.steps
    print('{} step, batch {}, {}x{}, fast conv {}, {} thread(s): {:.1f} ms per step ({} steps)'
          .format(args.model, batch, size, size, 'on' if not args.no_fast_conv else 'off',
                  fast_cpu.get_num_threads(), 1e3 * total, args.steps))
    width = 72 if args.by_shape else 34
    print('{:<{w}} {:>5} {:>6} {:>9} {:>6}'.format('function', 'phase', 'calls', 'ms/step', '%',
                                                     w=width))
    for sec, calls, (label, phase) in rows:
        if sec < 0.002 * total:
            continue
        print('{:<{w}} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format(
            label[:width], phase, calls, 1e3 * sec, 100 * sec / total, w=width))
    other = total - hooked - update
    print('{:<34} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format('optimizer update (Adam)', '', '',
                                                        1e3 * update, 100 * update / total))
    print('{:<34} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format('rest (Python, graph, small ops)', '',
                                                        '', 1e3 * other, 100 * other / total))
    self_ms = {}
    for sec, _, (label, _) in rows:
        label = label.split(' @ ')[0]
        self_ms[label] = self_ms.get(label, 0.0) + 1e3 * sec
    self_ms['(optimizer, rest)'] = 1e3 * (update + other)
    return 1e3 * total, group_times(self_ms, 'chainer')


def profile_torch(args, batch, size, chans):
    python = os.path.join(HERE, '.venv-torch', 'bin', 'python')
    if not os.path.exists(python):
        print('no benchmarks/.venv-torch (run benchmarks/setup_torch_env.sh): --torch skipped')
        return
    cmd = [python, os.path.join(HERE, 'torch_worker.py'), '--model', args.model, '--batch',
           str(batch), '--size', str(size), '--channels', str(chans), '--steps',
           str(args.steps), '--warmup', '1', '--profile', '25']
    proc = subprocess.run(cmd, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    print('\nPyTorch twin, torch.profiler over {} steps (self CPU per op; divide by {} for '
          'one step):'.format(args.steps, args.steps))
    if proc.returncode != 0:
        print('failed:\n' + proc.stderr[-3000:])
        return None
    print('\n'.join(ln for ln in proc.stderr.splitlines() if 'USDT' not in ln))
    import json
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith('{')][-1])
    return group_times(result['self_ms_per_step'], 'torch')


def print_summary(model, ours_total, ours, ref):
    """One table: ms per step of each op group, ours and the twin's (self times)."""
    print('\nsummary, {} (ms per step, self time; PyTorch: torch.profiler self CPU):'.format(
        model))
    print('{:<20} {:>9} {:>9}'.format('group', 'ours', 'PyTorch'))
    for group in [g[0] for g in GROUPS] + ['other']:
        print('{:<20} {:>9.1f} {:>9}'.format(group, ours[group], '-' if ref is None
                                              else '{:.1f}'.format(ref[group])))
    print('{:<20} {:>9.1f} {:>9}'.format('total', ours_total, '-' if ref is None
                                          else '{:.1f}'.format(sum(ref.values()))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='P4CNN', choices=sorted(DEFAULT_SHAPES))
    p.add_argument('--batch', type=int)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--threads', type=int, help='threads of both sides (default: as set)')
    p.add_argument('--no-fast-conv', action='store_true')
    p.add_argument('--torch', action='store_true', help="also profile the PyTorch twin")
    p.add_argument('--by-shape', action='store_true',
                   help="one row per function and shapes of its first two inputs")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error('--threads must be >= 1')
        for name in THREAD_VARS:  # read at import by the BLAS, OpenMP and groupy.fast_cpu
            os.environ[name] = str(args.threads)
    batch, size, chans = DEFAULT_SHAPES[args.model]
    batch = args.batch or batch
    total, ours = profile_chainer(args, batch, size, chans)
    ref = profile_torch(args, batch, size, chans) if args.torch else None
    print_summary(args.model, total, ours, ref)
    return 0


if __name__ == '__main__':
    sys.exit(main())
