"""Sweep throughput: `--workers W` (W worker processes on a Dask LocalCluster, cores / W threads
each) against `--workers 1` (the runs one after another in one process with all the cores), on
the MNIST-rot sweep's settings with few epochs, side by side in one run.

    .venv/bin/python benchmarks/sweep_throughput.py [--datadir DIR] [--mnist ../shared/data/mnist]
        [--models Z2CNN,P4CNN_RP,P4CNN] [--repeats 2] [--epochs 1] [--train_size N] [--val_size N]
        [--workers 2] [--cores 2] [--json out.json]

The data is the MNIST-rot-like set built from raw MNIST (`python -m
gconv_experiments.MNIST_ROT.mnist_rot --from-mnist MNIST --datadir DIR`, 12k train / 50k test),
made in DIR on first use. Each side is one `MNIST_ROT/experiment.py` sweep in a fresh process and
a fresh result folder (the LocalCluster's start-up is part of its time); the serial side goes
first. The sides compute with different thread counts, which changes the grouping of float32
sums (the groupy conv reduces per-thread partial gradients); training amplifies that, so their
numbers differ slightly (a sweep on any number of workers with the same --threads is identical).
The largest differences between the sides' runs are printed.
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--datadir", default=os.path.join(tempfile.gettempdir(), "gconv_mnist_rot_like"),
                   help="folder of the MNIST-rot-like .npz files (built there if missing)")
    p.add_argument("--mnist", default=os.path.join(os.path.dirname(REPO), "shared", "data", "mnist"),
                   help="folder with the four raw MNIST IDX .gz files")
    p.add_argument("--models", default="Z2CNN,P4CNN_RP,P4CNN")
    p.add_argument("--repeats", type=int, default=2, help="seeds per model")
    p.add_argument("--epochs", type=int, default=1, help="epochs per run (each run validates after its last)")
    p.add_argument("--train_size", type=int, default=None, help="first N of the 12k training images")
    p.add_argument("--val_size", type=int, default=None, help="first N of the 50k test images")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the parallel side")
    p.add_argument("--cores", type=int, default=None, help="cores to share out (default: usable cores)")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return p


def ensure_data(datadir, mnist):
    if all(os.path.isfile(os.path.join(datadir, f)) for f in ("train_all.npz", "test.npz")):
        return
    print(f"building the MNIST-rot-like set in {datadir} from {mnist} ...", flush=True)
    subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.mnist_rot", "--from-mnist", mnist,
                    "--datadir", datadir], check=True, cwd=REPO)


def run_side(args, resultdir, workers, threads):
    cmd = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.experiment", "--datadir", args.datadir,
           "--resultdir", resultdir, "--models", args.models, "--repeats", str(args.repeats),
           "--epochs", str(args.epochs), "--workers", str(workers), "--threads", str(threads), "--quiet"]
    for flag in ("train_size", "val_size"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(cmd)}):\n{result.stderr[-3000:]}")
    with open(os.path.join(resultdir, "runs.csv")) as f:
        return seconds, f.read()


def compare(a, b):
    """Largest absolute differences between two runs.csv texts: (test error, loss)."""
    rows_a, rows_b = (list(csv.DictReader(io.StringIO(text))) for text in (a, b))
    if [(r["model"], r["seed"]) for r in rows_a] != [(r["model"], r["seed"]) for r in rows_b]:
        sys.exit("the two sweeps ran different runs")

    def largest(keys):
        return max(abs(float(x[k]) - float(y[k])) for x, y in zip(rows_a, rows_b) for k in keys)
    return largest(["test_error"]), largest(["train_loss", "test_loss"])


def main(argv=None):
    args = build_parser().parse_args(argv)
    cores = args.cores or len(os.sched_getaffinity(0))
    if args.workers < 2 or cores < args.workers:
        sys.exit(f"--workers must be at least 2 and at most --cores ({cores}), got {args.workers}")
    ensure_data(args.datadir, args.mnist)
    n_runs = len(args.models.split(",")) * args.repeats
    sides = [(f"--workers 1 ({cores} threads)", 1, cores),
             (f"--workers {args.workers} ({cores // args.workers} thread{'s' if cores // args.workers > 1 else ''} each)",
              args.workers, cores // args.workers)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep_throughput_") as tmp:
        for label, workers, threads in sides:
            print(f"running {label} ...", flush=True)
            seconds, runs = run_side(args, os.path.join(tmp, f"w{workers}"), workers, threads)
            rows.append(dict(side=label, workers=workers, threads=threads, seconds=seconds,
                             runs_per_hour=3600 * n_runs / seconds, runs_csv=runs))
    error_diff, loss_diff = compare(rows[0].pop("runs_csv"), rows[1].pop("runs_csv"))
    ratio = rows[1]["runs_per_hour"] / rows[0]["runs_per_hour"]
    sizes = f"train {args.train_size or 12000} / test {args.val_size or 50000} images"
    print(f"\nsweep throughput: {args.models} x {args.repeats} seeds = {n_runs} runs, {args.epochs} epoch(s) "
          f"each, batch 128, rotation, {sizes}, {cores} cores")
    print(f"{'side':<32} {'wall (s)':>9} {'runs / hour':>12}")
    for r in rows:
        print(f"{r['side']:<32} {r['seconds']:>9.1f} {r['runs_per_hour']:>12.1f}")
    print(f"throughput ratio, --workers {args.workers} / --workers 1: {ratio:.2f}x; "
          f"largest difference between the sides' runs: test error {100 * error_diff:.2f} points, "
          f"loss {loss_diff:.2g} (other thread counts, see the docstring)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, ratio=ratio, test_error_difference=error_diff, loss_difference=loss_diff, cores=cores, settings=vars(args)), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
