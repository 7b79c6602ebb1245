"""Train one CIFAR10 model (Cohen & Welling 2016, section 8.2); the release's command lines run
unchanged:

    cd gconv_experiments && python CIFAR10/train.py --datadir=DIR --resultdir=OUT \\
        --modelfn=CIFAR10/models/P4AllCNNC.py
    python -m gconv_experiments.CIFAR10.train --datadir DIR --modelfn P4MResNet \\
        --net_kwargs "{'num_blocks': 4, 'nc32': 25, 'nc16': 50, 'nc8': 100}" \\
        --transformations translate_hflip

DIR holds ``cifar-10-python.tar.gz`` (or ``cifar-10-batches-py/``); the first run preprocesses
it into ``DIR/preprocessed/`` as the release did (per-image GCN, ZCA fitted on the 40k training
split for train/val and on all 50k for train_all/test; see CIFAR10/cifar10.py) and later runs
reuse that (a changed source is preprocessed again, a damaged cache file rebuilt).
``--trainfn``/``--valfn``/``--testfn`` name a split -- ``train.npz`` (40k), ``val.npz`` (10k;
``valid.npz`` too), ``train_all.npz`` (50k), ``test.npz`` (10k), with or without the
``preprocessed/`` prefix -- or any other .npz file inside DIR.

Defaults are the release's CIFAR10/train.py defaults (gconv_experiments/FIDELITY.md): model
AllCNNC, 100 epochs, batch size 128, MomentumSGD with Chainer's default lr 0.01 and momentum
0.9 (``--opt_kwargs "{}"``), weight decay 0.001, no learning-rate decay (the release's
--lr_decay_factor default 0; give e.g. ``--lr_decay_schedule 50-75 --lr_decay_factor 0.1``),
no augmentation, training on train_all (50k) and validating on test (10k) every 10 epochs
(snapshot every 10), evaluation with batch size 128 (``--eval_batchsize``: the release used
--batchsize) after re-estimating the BN population statistics in one pass over the training
set without augmentation or dropout (``--bn_reestimation clean``: the release's "finetune"
pass with train=False, finetune=True, which accumulated statistics in Chainer 1.8-1.14;
``none`` gives Chainer >= 1.15's behaviour, where that pass updated nothing). The
ResNets' final BN uses the statistics of each evaluation batch, as in the release
(``--net_kwargs "{'final_bn_batch_stats': False}"`` for population statistics).
All flags and the result files are described in gconv_experiments/training/ (``--help``).
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import training  # noqa: E402
from gconv_experiments.CIFAR10 import cifar10  # noqa: E402

__all__ = ["MODELS_PACKAGE", "DEFAULTS", "DESCRIPTION", "load_data", "main", "cli"]

MODELS_PACKAGE = "gconv_experiments.CIFAR10.models"
# release CIFAR10/train.py:230-274 (ca88c58); see gconv_experiments/FIDELITY.md
DEFAULTS = dict(
    datadir=os.path.join("CIFAR10", "data"), modelfn="AllCNNC", trainfn="train_all.npz",
    valfn="test.npz", epochs=100, batchsize=128, opt="MomentumSGD", opt_kwargs="{}",
    weight_decay=0.001, lr_decay_schedule="", transformations="", val_freq=10, save_freq=10,
    seed=0, eval_batchsize=None, normalization="none", bn_reestimation="clean",
)
DESCRIPTION = "Train an AllCNNC / P4AllCNNC / P4MAllCNNC / ResNet / P4MResNet on CIFAR10."


def load_data(path: str) -> tuple:
    """training.main's load_data hook (training checks what it returns). ``DIR/preprocessed/<split>.npz`` (and ``DIR/<split>.npz`` when
    no such file exists) for a CIFAR-10 split comes from the preprocessed cache, built,
    refreshed or repaired from the source in DIR first; any other .npz file is read as it is.
    Returns (float32 (N, 3, 32, 32), int32 (N,))."""
    folder, name = os.path.split(path)
    split = name[:-len(".npz")] if name.endswith(".npz") else None
    split = cifar10.SPLIT_ALIASES.get(split, split)
    if split in cifar10.SPLITS:
        if os.path.basename(os.path.normpath(folder)) == "preprocessed":
            datadir = os.path.dirname(os.path.normpath(folder))
        elif not os.path.isfile(path):
            datadir = folder
        else:
            datadir = None
        if datadir is not None:
            try:
                return cifar10.load(datadir, splits=(split,), quiet=False)[split]
            except ValueError as e:
                raise training.ConfigError(str(e)) from None
    return training.read_npz_dataset(path)


_KEYWORDS = dict(defaults=DEFAULTS, models_package=MODELS_PACKAGE, load_data=load_data,
                 prog="CIFAR10/train.py", description=DESCRIPTION)


def main(argv: "list | None" = None) -> dict:
    """Train with the command-line flags `argv`; returns the run's summary dict."""
    return training.main(argv, **_KEYWORDS)


def cli(argv: "list | None" = None) -> int:
    """Command-line entry: exit status 0, or 2 with `CIFAR10/train.py: error: ...`."""
    return training.cli(argv, **_KEYWORDS)


if __name__ == "__main__":
    sys.exit(cli())
