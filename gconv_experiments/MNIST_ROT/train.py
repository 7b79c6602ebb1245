"""Train one MNIST-rot model (Cohen & Welling 2016, section 8.1).

    cd gconv_experiments && python MNIST_ROT/train.py --modelfn=MNIST_ROT/models/P4CNN.py --datadir=DIR
    python -m gconv_experiments.MNIST_ROT.train --modelfn P4CNN --datadir DIR --epochs 100

The data folder holds the npz files written by MNIST_ROT/mnist_rot.py. Defaults follow the
paper: Adam with learning rate 1e-3, batch size 128, training on train_all.npz (12k images) and
evaluating on test.npz (50k). All flags and the result files are described in
gconv_experiments/training/ (`--help` lists them).
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402

MODELS_PACKAGE = "gconv_experiments.MNIST_ROT.models"
DEFAULTS = dict(
    datadir=os.path.join("MNIST_ROT", "data"), modelfn="P4CNN", trainfn="train_all.npz",
    valfn="test.npz", epochs=100, batchsize=128, opt="Adam", opt_kwargs="{'alpha': 0.001}",
)
DESCRIPTION = "Train a Z2CNN / P4CNN / P4CNN_RP / P4MCNN on MNIST-rot."


def main(argv=None):
    """Train with the command-line flags `argv`; returns the run's summary dict."""
    return training.main(argv, defaults=DEFAULTS, models_package=MODELS_PACKAGE,
                         prog="MNIST_ROT/train.py", description=DESCRIPTION)


if __name__ == "__main__":
    sys.exit(training.cli(None, defaults=DEFAULTS, models_package=MODELS_PACKAGE,
                          prog="MNIST_ROT/train.py", description=DESCRIPTION))
