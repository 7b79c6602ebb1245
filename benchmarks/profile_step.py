"""Where the time of one training step goes: self time of every Chainer function, forward and
backward separately, plus the optimizer update and the rest (Python, graph bookkeeping).

    .venv/bin/python benchmarks/profile_step.py [--model P4CNN] [--steps 3] [--no-fast-conv]

A FunctionNode's backward usually applies other FunctionNodes (that is how double backprop
works); their time is charged to them, not to the node whose backward called them ("self"
time), so the column adds up to the hooked total.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

DEFAULT_SHAPES = {'Z2CNN': (128, 28, 1), 'P4CNN': (128, 28, 1), 'AllCNNC': (32, 32, 3),
                  'P4AllCNNC': (32, 32, 3)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='P4CNN', choices=sorted(DEFAULT_SHAPES))
    p.add_argument('--batch', type=int)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--no-fast-conv', action='store_true')
    args = p.parse_args(argv)

    import numpy as np
    import chainer
    from chainer import function_hook
    import step_worker
    from groupy.fast_cpu import conv2d as cpu_conv2d  # noqa: F401 (defines the config entry)
    chainer.global_config.groupy_fast_cpu_conv = not args.no_fast_conv

    batch, size, chans = DEFAULT_SHAPES[args.model]
    batch = args.batch or batch

    class SelfTimeHook(function_hook.FunctionHook):
        name = 'SelfTimeHook'

        def __init__(self):
            self.stack = []   # [start, time spent in nested functions]
            self.table = {}   # (label, phase) -> [calls, self seconds]

        def _pre(self):
            self.stack.append([time.perf_counter(), 0.0])

        def _post(self, function, phase):
            start, nested = self.stack.pop()
            elapsed = time.perf_counter() - start
            if self.stack:
                self.stack[-1][1] += elapsed
            entry = self.table.setdefault((function.label, phase), [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed - nested

        def forward_preprocess(self, function, in_data):
            self._pre()

        def forward_postprocess(self, function, in_data):
            self._post(function, 'fwd')

        def backward_preprocess(self, function, in_data, out_grad):
            self._pre()

        def backward_postprocess(self, function, in_data, out_grad):
            self._post(function, 'bwd')

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
    hook = SelfTimeHook()
    clock = {'update': 0.0}
    start = time.perf_counter()
    for _ in range(args.steps):
        step(hook, clock)
    total = (time.perf_counter() - start) / args.steps

    rows = sorted(((v[1] / args.steps, v[0] // args.steps, k) for k, v in hook.table.items()),
                  reverse=True)
    hooked = sum(r[0] for r in rows)
    update = clock['update'] / args.steps
    print('{} step, batch {}, {}x{}, fast conv {}: {:.1f} ms per step ({} steps)'.format(
        args.model, batch, size, size, 'on' if not args.no_fast_conv else 'off', 1e3 * total,
        args.steps))
    print('{:<34} {:>5} {:>6} {:>9} {:>6}'.format('function', 'phase', 'calls', 'ms/step', '%'))
    for sec, calls, (label, phase) in rows:
        if sec < 0.002 * total:
            continue
        print('{:<34} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format(
            label[:34], phase, calls, 1e3 * sec, 100 * sec / total))
    other = total - hooked - update
    print('{:<34} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format('optimizer update (Adam)', '', '',
                                                        1e3 * update, 100 * update / total))
    print('{:<34} {:>5} {:>6} {:>9.1f} {:>5.1f}%'.format('rest (Python, graph, small ops)', '',
                                                        '', 1e3 * other, 100 * other / total))
    return 0


if __name__ == '__main__':
    sys.exit(main())
