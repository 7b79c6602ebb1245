"""How much data does a G-CNN save? Test error on MNIST-rot against the training-set size.

    python -m gconv_experiments.MNIST_ROT.data_efficiency --datadir DIR --results results/data_efficiency
        [--workers 2] [--models Z2CNN,Z2CNN_uniform_rotation,P4CNN,P4MCNN] [--sizes 300,1000,3000,6000,12000]
        [--seeds 0,1,2] [--steps 4000] [--threads 1] [--report-only] [--list-jobs | --run-job K]

Every run is one MNIST_ROT/train.py run (reproducible with train.py alone, see its run.json):
the class-balanced subset of train_all.npz of the given size drawn from the run's seed
(``--train_subset balanced --train_size N``: nested, a smaller subset lies inside the larger
ones of the same seed), the same number of Adam updates for every size and model (``--steps``,
default 4,000; alpha 1e-3, batch 128), BN re-estimation and evaluation on the full test.npz as
released, once, after the last step. Models: Z2CNN as released (dropout, augmentation
``rotation`` as released), ``Z2CNN_uniform_rotation`` (Z2CNN with ``--transformations
uniform_rotation``), P4CNN as released, P4MCNN. A size below the batch size is refused. Run
folders: <resultdir>/<model>/n<size>/seed<k>; they are planned, reused and resumed by the sweep
(gconv_experiments/sweep): only where run.json matches, else the study stops naming the
differences. The report (data_efficiency_report.py) goes into <resultdir>: results.md (the
headline numbers first), results.csv, runs.csv, reproduction.csv (the 12,000-image runs against
the reproduction's runs in the folder mnist_rot beside <resultdir> at the same number of
updates: data_efficiency_consistency.py) and data_efficiency.png, written from whatever has
finished; ``--report-only`` rewrites it without training. ``--list-jobs`` / ``--run-job K``
run the study as plain processes (``bash gconv_experiments/run_lanes.sh
gconv_experiments.MNIST_ROT.data_efficiency DIR [LANES]``: lanes that can be paused with
SIGSTOP); neither --list-jobs nor --report-only reads --datadir. ``--results`` is another name
of ``--resultdir``.

Compute: 60 runs x 4,000 steps. From the released runs' timings on one thread (P4CNN 24 s per
epoch of 94 steps, Z2CNN 16 s, P4MCNN about 45 s, uniform rotation about +50%), one step costs
about 0.26 s (P4CNN), 0.17 s (Z2CNN), 0.26 s (Z2CNN uniform rotation), 0.48 s (P4MCNN), so
4,000 steps x 3 seeds x 5 sizes take about 15 CPU-hours in all, plus one BN pass and one 50k
evaluation per run (about 1.3 epochs of 12k). To estimate on another machine, time a step
(``python benchmarks/sweep_estimate.py``, or the seconds per epoch a run prints, divided by
its batches) and multiply by 4,000 x 15 per model.
"""
import argparse
import dataclasses
import os
import sys

import numpy as np

from gconv_experiments import study_jobs
from gconv_experiments.MNIST_ROT import data_efficiency_report as report
from gconv_experiments.sweep import command_line
from gconv_experiments.sweep.execution import SweepError, execute
from gconv_experiments.sweep.runs import Run, plan
from gconv_experiments.training import ConfigError

__all__ = ["RESULTS", "MODELS", "SIZES", "SEEDS", "STEPS", "BATCHSIZE", "SNAPSHOT_STEPS", "Study", "build_parser",
           "study_from_args", "run_job", "main"]

# study name -> (model, --transformations)
MODELS = {"Z2CNN": ("Z2CNN", "rotation"), "Z2CNN_uniform_rotation": ("Z2CNN", "uniform_rotation"),
          "P4CNN": ("P4CNN", "rotation"), "P4MCNN": ("P4MCNN", "rotation")}
SIZES = (300, 1000, 3000, 6000, 12000)
SEEDS = (0, 1, 2)
STEPS = 4000
BATCHSIZE = 128
SNAPSHOT_STEPS = 500  # a snapshot about every this many updates (a killed run resumes from it)
TRAIN_MODULE = "gconv_experiments.MNIST_ROT.train"
PROG = "python -m gconv_experiments.MNIST_ROT.data_efficiency"
RESULTS = os.path.join("results", "data_efficiency")  # the study's folder


@dataclasses.dataclass(frozen=True)
class Study:
    """The grid of the study and the train.py flags of each of its runs.

    >>> study = Study("/data", "/out", ("P4CNN",), (300, 1000), (0,), steps=4000)
    >>> study.epochs(300), study.epochs(1000), study.run_folder("P4CNN", 300, 0)
    (1334, 500, '/out/P4CNN/n300/seed0')
    """
    datadir: str
    resultdir: str
    models: tuple
    sizes: tuple
    seeds: tuple
    steps: int = STEPS
    batchsize: int = BATCHSIZE

    def jobs(self) -> list:
        """[(model, size, seed)]: seed-major, then size, then model, so that a study cut short
        has every model and size for its first seeds."""
        return [(m, n, s) for s in self.seeds for n in self.sizes for m in self.models]

    def epochs(self, size: int) -> int:
        """The epochs `steps` updates take on `size` images (the last one cut short)."""
        per_epoch = -(-size // self.batchsize)
        return -(-self.steps // per_epoch)

    def run_folder(self, model: str, size: int, seed: int) -> str:
        return os.path.join(self.resultdir, model, f"n{size}", f"seed{seed}")

    def run(self, model: str, size: int, seed: int) -> Run:
        """The sweep's Run of one job: every train.py flag but --resultdir / --resume."""
        name, transformations = MODELS[model]
        epochs = self.epochs(size)
        save = max(1, round(SNAPSHOT_STEPS / -(-size // self.batchsize)))
        argv = ["--modelfn", name, "--datadir", self.datadir, "--trainfn", "train_all.npz", "--valfn", "test.npz",
                "--transformations", transformations, "--train_subset", "balanced", "--train_size", str(size),
                "--steps", str(self.steps), "--epochs", str(epochs), "--batchsize", str(self.batchsize),
                "--val_freq", str(epochs), "--save_freq", str(save), "--gpu", "-1", "--seed", str(seed), "--quiet"]
        return Run(group=f"{model} n={size}", seed=seed, epochs=epochs, folder=self.run_folder(model, size, seed),
                   argv=tuple(argv), train_module=TRAIN_MODULE)


def build_parser() -> argparse.ArgumentParser:
    """The study's command line."""
    p = argparse.ArgumentParser(prog=PROG, allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--datadir", default=os.environ.get("DATADIR"), help="folder of train_all.npz and test.npz")
    p.add_argument("--resultdir", "--results", dest="resultdir", default=RESULTS, help="the study's folder")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="training-set sizes, comma-separated")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="seeds, comma-separated")
    p.add_argument("--steps", type=int, default=STEPS, help="Adam updates of every run")
    p.add_argument("--batchsize", type=int, default=BATCHSIZE, help="minibatch size of every run")
    p.add_argument("--workers", type=int, default=1, help="runs at a time on a Dask LocalCluster (1: in this process)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP / groupy threads per run")
    study_jobs.add_job_arguments(p, "model size seed")
    return p


def _integers(text: str, flag: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag} must be integers joined by ',', got {text!r}") from None
    if len(set(values)) != len(values) or any(v < 0 for v in values):
        raise ConfigError(f"{flag} must be distinct non-negative integers, got {text!r}")
    return values


def _train_labels(datadir: str) -> np.ndarray:
    path = os.path.join(datadir, "train_all.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--datadir {datadir}: no train_all.npz (build the data with MNIST_ROT/mnist_rot.py)")
    with np.load(path) as f:
        return np.asarray(f["labels"])


def study_from_args(args: argparse.Namespace, check_data: bool = True) -> Study:
    """The Study of a parsed command line; ConfigError naming the flag for bad values (a size
    below --batchsize or beyond train_all.npz, an unknown model)."""
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if not models or unknown:
        raise ConfigError(f"--models: unknown model(s) {unknown or args.models!r}; available: {', '.join(MODELS)}")
    sizes, seeds = tuple(sorted(_integers(args.sizes, "--sizes"))), _integers(args.seeds, "--seeds")
    if args.steps < 1 or args.batchsize < 1:
        raise ConfigError(f"--steps and --batchsize must be positive integers, got {args.steps}, {args.batchsize}")
    small = [n for n in sizes if n < args.batchsize]
    if small:
        raise ConfigError(f"--sizes {','.join(map(str, small))} smaller than --batchsize {args.batchsize}: every "
                          f"training set must hold at least one whole batch")
    if not args.datadir and check_data:
        raise ConfigError("--datadir is required (the folder of train_all.npz and test.npz)")
    if check_data:
        n = len(_train_labels(args.datadir))
        if sizes[-1] > n:
            raise ConfigError(f"--sizes {sizes[-1]} exceeds the {n} images of {args.datadir}/train_all.npz")
    return Study(os.path.abspath(args.datadir) if args.datadir else "", os.path.abspath(args.resultdir), models,
                 sizes, seeds, args.steps, args.batchsize)


def run_job(study: Study, index: int, threads: int = 1) -> None:
    """Train (or resume, or skip when finished) job `index` of study.jobs(), then rewrite the report."""
    job = study_jobs.job_at(study.jobs(), index)
    execute(plan([study.run(*job)]), threads=threads, quiet=True, log=lambda text: print(text, flush=True))
    report.write_report(study)


def _run_all(args: argparse.Namespace) -> None:
    """Every job: planned (every folder checked) first, then trained; the report at the end."""
    study = study_from_args(args)
    threads = command_line.check_distribution_flags(args.workers, None, args.threads)
    planned = plan([study.run(*job) for job in study.jobs()])
    os.makedirs(study.resultdir, exist_ok=True)
    try:
        execute(planned, workers=args.workers, threads=threads, log=lambda text: print(text, flush=True))
    finally:
        _report(study)


def _report(study: Study) -> None:
    written = report.write_report(study)
    print(f"{written['finished']} of {len(written['runs'])} runs finished; report: "
          f"{os.path.join(study.resultdir, 'results.md')}, {written['plot']}", flush=True)


def main(argv: "list | None" = None) -> int:
    """Command line: bad input is one `prog: error: ...` line (exit 2), failed runs exit 1."""
    args = build_parser().parse_args(argv)

    def one_job(index):
        study = study_from_args(args)
        return run_job(study, index, command_line.check_distribution_flags(args.workers, None, args.threads))

    return study_jobs.run_study(
        args, PROG, {SweepError: 1, ConfigError: 2, FileNotFoundError: 2},
        jobs=lambda: study_from_args(args, check_data=False).jobs(), run_job=one_job,
        report=lambda: _report(study_from_args(args, check_data=False)), run_all=lambda: _run_all(args),
        datadir="the folder of train_all.npz and test.npz", interrupted="run the same command again to continue")


if __name__ == "__main__":
    sys.exit(main())
