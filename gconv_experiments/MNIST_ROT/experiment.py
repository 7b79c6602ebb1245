"""The MNIST-rot sweep of Cohen & Welling (2016), Table 1: several models x several seeds.

    python -m gconv_experiments.MNIST_ROT.experiment --datadir DIR [--resultdir results/mnist_rot_sweep]
        [--models Z2CNN,P4CNN_RP,P4CNN] [--epochs Z2CNN=300,P4CNN=100,P4CNN_RP=100 | --epochs 5]
        [--repeats 5 | --seeds 0,1,2] [--workers N | --scheduler ADDRESS] [--threads T]
        [any other train.py flag, e.g. --batchsize 64 --opt_kwargs "{'alpha': 0.002}"]
    cd gconv_experiments && python MNIST_ROT/experiment.py --trainfn=DIR/train_all.npz \\
        --valfn=DIR/test.npz --modelpath=MNIST_ROT/models/ --repeats 5      # the release's command

Defaults are the released protocol (tscohen/gconv_experiments MNIST_ROT/experiment.py): Z2CNN
300 epochs, P4CNN and P4CNN_RP 100, 5 repeats with seeds 0..4, Adam alpha 1e-3, batch 128,
training on train_all.npz (12k) and reporting the error on test.npz (50k), validation and
snapshots every 25 epochs, augmentation `rotation` as released (at most +-3.14 degrees), input
normalisation and BN re-estimation as MNIST_ROT/train.py's defaults.

Each (model, seed) is one MNIST_ROT/train.py run in <resultdir>/<model>/seed<k>/ with its run
record (run.json). Re-running the command reuses finished runs and resumes interrupted ones --
only where the run record matches the requested settings; otherwise it stops naming the
differing settings (see gconv_experiments/sweep/runs.py). Afterwards the sweep writes results.csv,
results.md, runs.csv, sweep.json and learning_curves.png into <resultdir>
(gconv_experiments/sweep/report.py); a folder holding a report of other runs (such as the
published results/mnist_rot) is refused before anything trains, unless --overwrite_report. --workers / --scheduler: docs/scaling_out.md and the Dask tutorial (docs/tutorials/dask_sweep.md).
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402
from gconv_experiments.sweep import command_line  # noqa: E402
from gconv_experiments.MNIST_ROT import train  # noqa: E402

__all__ = ["PAPER_MODELS", "PAPER_EPOCHS", "PAPER_RESULTS", "build_parser", "run_flags", "main", "cli"]

PAPER_MODELS = ("Z2CNN", "P4CNN_RP", "P4CNN")
PAPER_EPOCHS = {"Z2CNN": 300, "P4CNN": 100, "P4CNN_RP": 100, "P4MCNN": 100}
# Test error as printed in the paper's Table 1 (and the original README): mean % ± np.std of the fraction.
PAPER_RESULTS = {"Z2CNN": "5.03 ± 0.0020", "P4CNN_RP": "3.21 ± 0.0012", "P4CNN": "2.28 ± 0.0004"}
RELEASED_FREQ = 25  # validation (with BN re-estimation) and snapshots every 25 epochs, as released
TRAIN_MODULE = "gconv_experiments.MNIST_ROT.train"
PROG = "MNIST_ROT/experiment.py"


def build_parser() -> argparse.ArgumentParser:
    """The sweep's argument parser (every default the released protocol)."""
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run the MNIST-rot sweep (models x seeds) and tabulate mean ± std test error. "
                    "Every default is the released protocol of Cohen & Welling (2016): Z2CNN 300 epochs, "
                    "P4CNN and P4CNN_RP 100, 5 repeats (seeds 0..4), Adam alpha 1e-3 and batch 128 "
                    "(MNIST_ROT/train.py defaults), train_all.npz (12k) vs test.npz (50k), validation and "
                    "snapshots every 25 epochs, augmentation 'rotation' as released. Flags not listed "
                    "here (e.g. --batchsize, --opt_kwargs, --normalization, --bn_reestimation) are "
                    "passed on to every MNIST_ROT/train.py run.")
    p.add_argument("--datadir", default=os.environ.get("DATADIR") or train.DEFAULTS["datadir"],
                   help="folder with the MNIST-rot .npz files ($DATADIR when set, as the release read "
                        "it); --trainfn/--valfn are relative to it")
    p.add_argument("--trainfn", default=train.DEFAULTS["trainfn"], help="training file (the release: 12k train_all)")
    p.add_argument("--valfn", default=train.DEFAULTS["valfn"],
                   help="file evaluated every --val_freq epochs; its final error is the reported test error")
    p.add_argument("--resultdir", default=os.path.join("results", "mnist_rot_sweep"),
                   help="output folder of the sweep (the published reproduction in results/mnist_rot is "
                        "written by MNIST_ROT/reproduction.py, never by default)")
    p.add_argument("--modelpath", default=None,
                   help="folder of the model files (<model>.py), as the release's --modelpath "
                        "MNIST_ROT/models/ (None: the package's models)")
    command_line.add_run_arguments(p)
    p.add_argument("--transformations", default="rotation",
                   help="training augmentation. 'rotation' = as released: an angle r uniform in [-pi, pi] "
                        "passed to skimage's rotate, which reads degrees, so at most +-3.14 degrees; "
                        "'uniform_rotation' = true rotations uniform in [0, 2 pi); '' = none")
    p.add_argument("--gpu", type=int, default=-1, help="CUDA device id, -1 for the CPU (the release used GPU 0)")
    p.add_argument("--val_freq", type=int, default=RELEASED_FREQ,
                   help="validate (re-estimate BN, evaluate the --valfn set) every N epochs and after the "
                        "last; on a CPU each costs about 1.3 training epochs")
    p.add_argument("--save_freq", type=int, default=RELEASED_FREQ,
                   help="snapshot every N epochs and after the last (a killed run resumes from the last one)")
    command_line.add_sweep_arguments(p, models=PAPER_MODELS, epochs=PAPER_EPOCHS, repeats=5)
    return p


def _modelfn(model, modelpath):
    if modelpath is None:
        return model
    path = os.path.join(modelpath, model + ".py")
    return os.path.abspath(path) if os.path.isfile(path) else path  # else relative to gconv_experiments/


def run_flags(args: argparse.Namespace, model: str) -> list:
    """The train.py flags of `model`'s runs in the sweep of the parsed command line `args`."""
    return command_line.run_flags(args, _modelfn(model, args.modelpath), os.path.abspath(args.datadir),
                                  args.trainfn, args.valfn)


def main(argv: "list | None" = None, dataset: str = "MNIST-rot", write_tables: bool = True) -> dict:
    """Run the sweep; returns {'summaries', 'planned', 'table', 'plot', 'rows'} (see
    gconv_experiments.sweep.command_line.run_experiment). `dataset` names the data in the plot title; the
    paper's numbers are tabulated for MNIST-rot only. write_tables=False: train only (the caller
    writes the tables, as reproduction.py does over every finished run of a setting)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser().parse_known_args(argv)

    known = training.available_models(train.MODELS_PACKAGE) if args.modelpath is None else None
    return command_line.run_experiment(
        args, extra, argv, train_module=TRAIN_MODULE, run_flags=lambda model: run_flags(args, model),
        default_epochs=PAPER_EPOCHS,
        models_known=known, paper=PAPER_RESULTS if dataset == "MNIST-rot" else None, paper_label="paper (Table 1)",
        title=f"{dataset} learning curves", prog=PROG, write_tables=write_tables)


def cli(argv: "list | None" = None) -> int:
    """Command-line entry: main() with bad input as one `prog: error: ...` line (exit status 2)."""
    return command_line.cli(lambda: main(argv), PROG)


if __name__ == "__main__":
    sys.exit(cli())
