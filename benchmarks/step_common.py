"""What both sides of a training-step measurement share: `step_worker.py` (Chainer, this
project) and `torch_models.py` (the PyTorch twin, run in its own virtualenv): the command line,
the random batch and the peak-memory reading. NumPy and the standard library only, so both
interpreters import it from this folder."""
import argparse
import json
import resource
import time

import numpy as np


def step_parser(description, models, check_help):
    """Parser for --model (one of `models`) --batch --size --channels --steps --warmup --seed
    --device --check --forward-passes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--model', choices=sorted(models), required=True)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--size', type=int, default=28)
    p.add_argument('--channels', type=int, default=1)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', choices=['cpu', 'gpu'], default='cpu')
    p.add_argument('--check', help=check_help)
    p.add_argument('--forward-passes', type=int, default=0,
                   help='after the steps, also time this many forward passes without backprop '
                        'in training mode (BN re-estimation) and in test mode (evaluation)')
    return p


def random_batch(args):
    """The same inputs on both sides: x float32 (batch, channels, size, size), labels t (batch,)."""
    rng = np.random.RandomState(args.seed)
    x = rng.standard_normal((args.batch, args.channels, args.size, args.size)).astype(np.float32)
    t = rng.randint(0, 10, args.batch)
    return x, t


def peak_rss_mib():
    """Peak resident set size of this process image (MiB): VmHWM from /proc/self/status where
    available, since Linux's ru_maxrss carries the parent's peak over fork + execve."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_steps(step, args):
    """Run `step()` args.warmup + args.steps times; returns ({'times': [s, ...] of the timed
    steps, 'peak_rss_mib', 'peak_rss_before_steps_mib'})."""
    rss_before = peak_rss_mib()
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return {'times': times, 'peak_rss_mib': peak_rss_mib(), 'peak_rss_before_steps_mib': rss_before}


def run_worker(parser, argv, run_check, run_steps):
    """Parse `argv`, run `run_check(args)` when --check is given, else `run_steps(args)`, and
    print the resulting dict as one JSON line (what run_benchmarks.py reads)."""
    args = parser.parse_args(argv)
    print(json.dumps(run_check(args) if args.check else run_steps(args)))
    return 0


def time_forward(forward, args):
    """``forward(train)`` (no backprop) args.forward_passes times in each mode after one
    warm-up call; returns {'fwd_train_times': [s, ...], 'fwd_test_times': [s, ...]} (empty
    dict when --forward-passes is 0)."""
    if args.forward_passes < 1:
        return {}
    out = {}
    for train in (True, False):
        forward(train)
        times = []
        for _ in range(args.forward_passes):
            start = time.perf_counter()
            forward(train)
            times.append(time.perf_counter() - start)
        out['fwd_train_times' if train else 'fwd_test_times'] = times
    return out
