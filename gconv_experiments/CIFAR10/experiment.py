"""A CIFAR10 sweep (Cohen & Welling 2016, Table 2): several models x seeds, each one
CIFAR10/train.py run, on one process or a Dask cluster, tabulated like the MNIST-rot sweep.

    python -m gconv_experiments.CIFAR10.experiment --datadir DIR [--resultdir results/cifar10]
        [--models AllCNNC,P4AllCNNC,P4MAllCNNC,ResNet,P4MResNet] [--epochs 100 | --epochs AllCNNC=50]
        [--repeats 1 | --seeds 0,1] [--transformations translate_hflip]
        [--workers N | --scheduler ADDRESS] [--threads T] [any other CIFAR10/train.py flag]

DIR holds cifar-10-python.tar.gz (or cifar-10-batches-py/); the client preprocesses it once into
DIR/preprocessed/ (CIFAR10/cifar10.py) before any run starts, so the runs share one cache and
their run records hash the same files. Every training default is CIFAR10/train.py's (the
release's, see gconv_experiments/FIDELITY.md); the paper reports one run per model, hence
--repeats 1. Run folders, reuse/resume rules and the files written are those of the MNIST-rot
sweep (gconv_experiments/sweep/).
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402
from gconv_experiments.sweep import command_line  # noqa: E402
from gconv_experiments.CIFAR10 import cifar10, train  # noqa: E402

__all__ = ["MODELS", "PAPER_RESULTS", "build_parser", "main", "cli"]

MODELS = ("AllCNNC", "P4AllCNNC", "P4MAllCNNC", "ResNet", "P4MResNet")
# Test error (%) in the paper's Table 2, without / with augmentation; the ResNet rows are the
# 44-layer ones (their widths are chosen by --net_kwargs).
PAPER_RESULTS = {"AllCNNC": "9.44 / +aug 8.86", "P4AllCNNC": "8.84 / +aug 7.67", "P4MAllCNNC": "7.59 / +aug 7.04",
                 "ResNet": "ResNet44 9.45 / +aug 5.61", "P4MResNet": "p4m-ResNet44 6.46 / +aug 4.94"}
TRAIN_MODULE = "gconv_experiments.CIFAR10.train"
PROG = "CIFAR10/experiment.py"


def build_parser() -> argparse.ArgumentParser:
    """The sweep's argument parser (training defaults: CIFAR10/train.py's)."""
    d = train.DEFAULTS
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run a CIFAR10 sweep (models x seeds) and tabulate the test error per model. "
                    "Training defaults are CIFAR10/train.py's (the released settings); flags not "
                    "listed here are passed on to every CIFAR10/train.py run.")
    p.add_argument("--datadir", default=d["datadir"], help="folder with cifar-10-python.tar.gz or cifar-10-batches-py/")
    p.add_argument("--trainfn", default=d["trainfn"], help="training split (in DIR/preprocessed/)")
    p.add_argument("--valfn", default=d["valfn"],
                   help="split evaluated every --val_freq epochs; its final error is the reported test error")
    p.add_argument("--resultdir", default=os.path.join("results", "cifar10"), help="output folder of the sweep")
    p.add_argument("--transformations", default=d["transformations"],
                   help="training augmentation, e.g. translate_hflip (the paper's '+' columns); '' = none")
    p.add_argument("--gpu", type=int, default=-1, help="CUDA device id, -1 for the CPU")
    p.add_argument("--val_freq", type=int, default=d["val_freq"], help="validate every N epochs and after the last")
    p.add_argument("--save_freq", type=int, default=d["save_freq"], help="snapshot every N epochs and after the last")
    command_line.add_run_arguments(p)
    command_line.add_sweep_arguments(p, models=MODELS, epochs={m: d["epochs"] for m in MODELS}, repeats=1)
    return p


def _split_file(name):
    """A split name as stored by cifar10.prepare: 'test.npz' -> 'preprocessed/test.npz'."""
    stem = name[:-len(".npz")] if name.endswith(".npz") else None
    return os.path.join("preprocessed", name) if stem in cifar10.SPLITS and os.sep not in name else name


def main(argv: "list | None" = None) -> dict:
    """Run the sweep; returns gconv_experiments.sweep.command_line.run_experiment's dict."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser().parse_known_args(argv)
    datadir = os.path.abspath(args.datadir)
    try:
        cifar10.prepare(datadir)  # once, here: the runs then read (and fingerprint) the same cache
    except ValueError as e:  # CacheError, a missing or damaged source
        raise training.ConfigError(f"--datadir: {e}") from None

    def run_flags(model):
        return command_line.run_flags(args, model, datadir, _split_file(args.trainfn), _split_file(args.valfn))

    return command_line.run_experiment(
        args, extra, argv, train_module=TRAIN_MODULE, run_flags=run_flags,
        default_epochs={m: train.DEFAULTS["epochs"] for m in MODELS},
        models_known=training.available_models(train.MODELS_PACKAGE), paper=PAPER_RESULTS,
        paper_label="paper (Table 2), %",
        title="CIFAR10 learning curves", prog=PROG)


def cli(argv: "list | None" = None) -> int:
    """Command-line entry: main() with bad input as one `prog: error: ...` line (exit status 2)."""
    return command_line.cli(lambda: main(argv), PROG)


if __name__ == "__main__":
    sys.exit(cli())
