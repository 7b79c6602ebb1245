"""Train one MNIST-rot model (Cohen & Welling 2016, section 8.1).

    cd gconv_experiments && python MNIST_ROT/train.py --modelfn=MNIST_ROT/models/P4CNN.py --datadir=DIR
    python -m gconv_experiments.MNIST_ROT.train --modelfn P4CNN --datadir DIR --epochs 100

The data folder holds the npz files written by MNIST_ROT/mnist_rot.py (default: $DATADIR when
set, as the release read it, else MNIST_ROT/data). Defaults follow the released
MNIST_ROT/train.py and experiment.py: Adam with alpha 1e-3, batch size 128, training on
train_all.npz (12k images) and evaluating on test.npz (50k); inputs normalised by the scalar mean
and std of all training pixels (--normalization train_scalar); before each evaluation the BN
population statistics are re-estimated by one shuffled pass over the training set in training
mode, with the training augmentation and dropout, every batch weighing the same (the release's
"finetune" epoch: --bn_reestimation augmented --bn_averaging batch). All flags and the result
files are described in gconv_experiments/training/ (`--help` lists them).
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402

__all__ = ["MODELS_PACKAGE", "DEFAULTS", "DESCRIPTION", "main"]

MODELS_PACKAGE = "gconv_experiments.MNIST_ROT.models"
DEFAULTS = dict(
    datadir=os.environ.get("DATADIR") or os.path.join("MNIST_ROT", "data"), modelfn="P4CNN",
    trainfn="train_all.npz", valfn="test.npz", epochs=100, batchsize=128, opt="Adam",
    opt_kwargs="{'alpha': 0.001}", normalization="train_scalar", bn_reestimation="augmented",
    bn_averaging="batch",
)
DESCRIPTION = ("Train a Z2CNN / P4CNN / P4CNN_RP / P4MCNN on MNIST-rot. Defaults as released: Adam alpha "
               "1e-3, batch 128, train_all.npz / test.npz, inputs normalised by the training pixels' "
               "scalar mean and std, BN statistics re-estimated before each evaluation by one shuffled "
               "training-mode pass with augmentation and dropout, every batch weighing the same.")


def main(argv: "list | None" = None) -> dict:
    """Train with the command-line flags `argv`; returns the run's summary dict."""
    return training.main(argv, defaults=DEFAULTS, models_package=MODELS_PACKAGE,
                         prog="MNIST_ROT/train.py", description=DESCRIPTION)


if __name__ == "__main__":
    sys.exit(training.cli(None, defaults=DEFAULTS, models_package=MODELS_PACKAGE,
                          prog="MNIST_ROT/train.py", description=DESCRIPTION))
