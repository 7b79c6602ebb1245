"""PyTorch side of ``benchmarks/run_benchmarks.py``: times training steps of one twin
(``torch_models.py``) in a fresh process and prints one JSON line (fields as
``step_worker.py``'s, plus ``threads`` and ``version``). Runs in ``benchmarks/.venv-torch``.

With ``--check FILE`` it loads the Chainer parameters and input batch from that npz, runs the
twin in training mode (batch statistics) without dropout and saves its logits to ``--out``.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from step_common import random_batch, run_worker, step_parser, time_forward, time_steps
from torch_models import MODELS, build

_CHAINER_NAMES = {'gamma': 'weight', 'beta': 'bias', 'avg_mean': 'running_mean',
                  'avg_var': 'running_var'}


def load_chainer_params(model, params):
    """Copy Chainer parameters {'/l1/conv/W': array, '/l1/bn/gamma': ...} into the twin; every
    twin parameter must get a value of its shape."""
    state = model.state_dict()
    loaded = set()
    for path, array in params.items():
        parts = path.strip('/').split('/')
        key = '.'.join(parts[:-1] + [_CHAINER_NAMES.get(parts[-1], parts[-1])])
        if key not in state:
            raise KeyError('no parameter {} in the torch twin for Chainer {}'.format(key, path))
        if tuple(state[key].shape) != tuple(array.shape):
            raise ValueError('{}: shape {} in torch, {} in Chainer'.format(
                key, tuple(state[key].shape), array.shape))
        state[key] = torch.from_numpy(np.asarray(array))
        loaded.add(key)
    missing = {k for k, _ in model.named_parameters()} - loaded
    if missing:
        raise KeyError('torch parameters without a Chainer value: {}'.format(sorted(missing)))
    model.load_state_dict(state)


def run_steps(args):
    torch.manual_seed(args.seed)
    device = torch.device('cuda' if args.device == 'gpu' else 'cpu')
    model = build(args.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t = random_batch(args)
    x, t = torch.from_numpy(x).to(device), torch.from_numpy(t.astype(np.int64)).to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        sync()

    def forward(train):
        model.train(train)
        with torch.no_grad():
            model(x)
        sync()

    measured = time_steps(step, args)
    measured.update(time_forward(forward, args))
    return {'side': 'torch', 'model': args.model, **measured,
            'threads': torch.get_num_threads(), 'version': torch.__version__,
            'device': args.device}


def run_profile(args):
    """torch.profiler table (self CPU time per op, forward and backward) of args.steps
    training steps after args.warmup; printed before the JSON line."""
    from torch.profiler import ProfilerActivity, profile
    model = build(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t = random_batch(args)
    x, t = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), t).backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    averages = prof.key_averages()
    print(averages.table(sort_by='self_cpu_time_total', row_limit=args.profile), file=sys.stderr)
    self_ms = {e.key: e.self_cpu_time_total / 1e3 / args.steps for e in averages}
    return {'side': 'torch', 'model': args.model, 'threads': torch.get_num_threads(),
            'self_ms_per_step': self_ms}


def run_check(args):
    data = np.load(args.check)
    model = build(args.model, no_dropout=True)
    load_chainer_params(model, {k[len('param:'):]: data[k] for k in data.files
                                if k.startswith('param:')})
    model.train()  # batch statistics, as Chainer in training mode
    with torch.no_grad():
        logits = model(torch.from_numpy(data['x'])).numpy()
    np.save(args.out, logits)
    return {'side': 'torch', 'model': args.model, 'logits': args.out}


def main(argv=None):
    p = step_parser('PyTorch side of benchmarks/run_benchmarks.py', MODELS,
                    'npz with Chainer parameters and input: compare logits')
    p.add_argument('--out', help='where --check writes the logits (.npy)')
    p.add_argument('--profile', type=int, default=0,
                   help='print the torch.profiler table (this many rows) instead of timing')
    args = p.parse_known_args(argv)[0]
    return run_worker(p, argv, run_check, run_profile if args.profile else run_steps)


if __name__ == '__main__':
    sys.exit(main())
