"""Train one CIFAR10 model (Cohen & Welling 2016, section 8.2).

    cd gconv_experiments && python CIFAR10/train.py --datadir=DIR --resultdir=OUT \\
        --modelfn=CIFAR10/models/P4AllCNNC.py
    python -m gconv_experiments.CIFAR10.train --datadir DIR --modelfn P4MResNet \\
        --net_kwargs "{'depth': 26}" --transformations translation,hflip

DIR holds ``cifar-10-python.tar.gz`` (or ``cifar-10-batches-py/``); the first run preprocesses
it into ``DIR/preprocessed/`` (GCN + ZCA, see CIFAR10/cifar10.py) and later runs reuse that
(a changed source is preprocessed again). ``--trainfn``/``--valfn``/``--testfn`` name a split --
``preprocessed/train.npz`` (40k), ``preprocessed/valid.npz`` (10k), ``preprocessed/train_all.npz``
(50k), ``preprocessed/test.npz`` (10k), the ``preprocessed/`` prefix may be left out -- or any
other .npz file inside DIR.

Defaults (the original gconv_experiments CIFAR10 settings as far as they are known; every one
can be overridden): MomentumSGD (momentum 0.9) with learning rate 0.05, batch size 125,
weight decay 0.001, 300 epochs with the learning rate multiplied by 0.1 after epochs 100, 200
and 300 (``--lr_decay_schedule 100-200-300``), no augmentation (``--transformations
translation,hflip`` is the "CIFAR10+" regime), training on train_all (50k) and reporting the error
on test (10k), validated (after re-estimating the BN statistics on the training set) every 10
epochs and at the end, snapshot every epoch. All flags and the result files are described in
gconv_experiments/training/ (``--help`` lists them).
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402
from gconv_experiments.CIFAR10 import cifar10  # noqa: E402

MODELS_PACKAGE = "gconv_experiments.CIFAR10.models"
DEFAULTS = dict(
    datadir=os.path.join("CIFAR10", "data"), modelfn="P4AllCNNC", trainfn="preprocessed/train_all.npz",
    valfn="preprocessed/test.npz", epochs=300, batchsize=125, opt="MomentumSGD",
    opt_kwargs="{'lr': 0.05, 'momentum': 0.9}", weight_decay=0.001,
    lr_decay_schedule="100-200-300", lr_decay_factor=0.1, val_freq=10, save_freq=1,
)
DESCRIPTION = "Train an AllCNNC / P4AllCNNC / P4MAllCNNC / ResNet / P4MResNet on CIFAR10."


def load_data(path):
    """training.load_data hook. ``DIR/preprocessed/<split>.npz`` (and ``DIR/<split>.npz`` when
    no such file exists) for a CIFAR-10 split comes from the preprocessed cache, built or
    refreshed from the source in DIR first; any other .npz file is read as it is.
    Returns (float32 (N, 3, 32, 32), int32 (N,))."""
    folder, name = os.path.split(path)
    split = name[:-len(".npz")] if name.endswith(".npz") else None
    if split in cifar10.SPLITS:
        if os.path.basename(os.path.normpath(folder)) == "preprocessed":
            datadir = os.path.dirname(os.path.normpath(folder))
        elif not os.path.isfile(path):
            datadir = folder
        else:
            datadir = None
        if datadir is not None:
            try:
                cifar10.prepare(datadir)
                return cifar10.load_split(datadir, split)
            except ValueError as e:
                raise training.ConfigError(str(e)) from None
    return training.load_npz_dataset(path)


_KEYWORDS = dict(defaults=DEFAULTS, models_package=MODELS_PACKAGE, load_data=load_data,
                 prog="CIFAR10/train.py", description=DESCRIPTION)


def main(argv=None):
    """Train with the command-line flags `argv`; returns the run's summary dict."""
    return training.main(argv, **_KEYWORDS)


def cli(argv=None):
    """Command-line entry: exit status 0, or 2 with `CIFAR10/train.py: error: ...`."""
    return training.cli(argv, **_KEYWORDS)


if __name__ == "__main__":
    sys.exit(cli())
