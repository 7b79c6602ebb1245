"""The CPU time of the paper's MNIST-rot sweep (Cohen & Welling 2016, Table 1), estimated from
measured step and forward-pass times (``run_benchmarks.py`` prints it after the steps table).

The released protocol (``gconv_experiments/MNIST_ROT/experiment.py``): Z2CNN 300 epochs, P4CNN
and P4CNN_RP 100 epochs, 5 seeds each; 12,000 training images at batch 128; every 25 epochs an
evaluation of the 50,000 test images (batch 128, test mode) preceded by a BN re-estimation pass
over the training set (training-mode forward passes without backprop). Not included: data
augmentation, snapshots, process start-up.
"""
import math

SWEEP = (('Z2CNN', 300), ('P4CNN', 100), ('P4CNN_RP', 100))
REPEATS, TRAIN, TEST, BATCH, EVAL_EVERY = 5, 12000, 50000, 128, 25


def run_seconds(epochs, step_s, fwd_train_s, fwd_test_s):
    """Seconds of one training run: epochs of ceil(12000/128) steps, and epochs/25 evaluations
    (ceil(12000/128) training-mode + ceil(50000/128) test-mode forward passes)."""
    steps = math.ceil(TRAIN / BATCH)
    evals = epochs // EVAL_EVERY
    return epochs * steps * step_s + evals * (steps * fwd_train_s
                                              + math.ceil(TEST / BATCH) * fwd_test_s)


def estimate(times, threads):
    """times: {model: (step_s, fwd_train_s, fwd_test_s)} at batch 128 -> list of
    (model, epochs, hours of one run, wall hours of the 5 runs, core-hours of the 5 runs)
    and the totals; None when a model of the sweep was not measured."""
    if any(model not in times for model, _ in SWEEP):
        return None
    rows = []
    for model, epochs in SWEEP:
        one = run_seconds(epochs, *times[model]) / 3600.0
        rows.append((model, epochs, one, REPEATS * one, REPEATS * one * threads))
    total = ('total', None, None, sum(r[3] for r in rows), sum(r[4] for r in rows))
    return rows + [total]


def print_estimate(side_times, threads):
    """Prints the estimate for each side ({'ours': times, 'PyTorch': times})."""
    for side, times in side_times.items():
        rows = estimate(times, threads)
        if rows is None:
            continue
        print('\nMNIST-rot sweep estimate, {} ({} thread(s); 5 seeds, 12k train, 50k test every '
              '25 epochs with BN re-estimation; augmentation not included):'.format(side, threads))
        for model, epochs, one, wall, core in rows:
            if epochs is None:
                print('  {:<9} {:>31} {:7.2f} h wall, {:7.2f} CPU-hours'.format(
                    model, '', wall, core))
            else:
                print('  {:<9} {:3d} epochs: {:6.2f} h per run, x5 = {:7.2f} h wall, {:7.2f} '
                      'CPU-hours'.format(model, epochs, one, wall, core))
