"""Configuration of a training run: the train.py flags, their checks, the optimizer and the
device they select. Every bad value is a :class:`ConfigError` naming the flag."""
import argparse
import inspect
import os

import chainer
import numpy as np

from gconv_experiments import augmentation

__all__ = ["PACKAGE_ROOT", "OPTIMIZERS", "BASE_DEFAULTS", "COMMUNICATORS", "BN_AVERAGINGS", "TRAIN_SUBSETS", "NORMALIZATIONS", "BN_REESTIMATIONS", "ConfigError", "build_parser", "check_optimizer_kwargs", "make_optimizer", "get_device"]


PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # gconv_experiments/
OPTIMIZERS = ("MomentumSGD", "Adam", "AdaGrad", "RMSprop", "NesterovAG")
BASE_DEFAULTS = dict(
    datadir=".", resultdir=None, modelfn=None, trainfn="train.npz", valfn="valid.npz",
    testfn=None, epochs=100, batchsize=128, opt="Adam", opt_kwargs="{}", net_kwargs="{}",
    weight_decay=0.0, lr_decay_schedule="", lr_decay_factor=0.1, transformations="",
    val_freq=1, save_freq=1, gpu=-1, seed=0, train_size=None, val_size=None,
    resume=False, quiet=False, eval_batchsize=None, normalization="none", bn_reestimation="clean",
    verbose=False, bn_averaging="batch", communicator="none",
    train_subset="first", subset_seed=None, steps=None,
)
COMMUNICATORS = ("none", "naive", "flat", "non_cuda_aware", "pure_nccl")  # ChainerMN; see training.distributed
BN_AVERAGINGS = ("batch", "exact")
TRAIN_SUBSETS = ("first", "balanced")
NORMALIZATIONS = ("train_scalar", "none")
BN_REESTIMATIONS = ("augmented", "clean", "none")


class ConfigError(ValueError):
    """A bad flag, file or data set, reported to the user as one clear line."""


def build_parser(defaults: "dict | None" = None, prog: "str | None" = None,
                 description: "str | None" = None) -> argparse.ArgumentParser:
    """The train.py argument parser; `defaults` (dest -> value) overrides BASE_DEFAULTS."""
    d = dict(BASE_DEFAULTS)
    unknown = set(defaults or {}) - set(d)
    if unknown:
        raise ValueError(f"build_parser: unknown default(s) {sorted(unknown)}; known: {sorted(d)}")
    d.update(defaults or {})
    p = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a = p.add_argument
    a("--datadir", type=str, help="folder holding the data files")
    a("--resultdir", type=str, help="output folder (None: results/<model>_seed<seed>)")
    a("--modelfn", type=str, help="model: a path to a models/<Name>.py file or a bare name")
    a("--trainfn", type=str, help="training data file inside --datadir")
    a("--valfn", type=str, help="validation data file inside --datadir")
    a("--testfn", type=str, help="test file inside --datadir evaluated once at the end "
                                 "(None: the final validation is the test result)")
    a("--epochs", type=int, help="number of training epochs")
    a("--batchsize", type=int, help="minibatch size")
    a("--opt", type=str, choices=OPTIMIZERS, help="optimizer (chainer.optimizers.<name>)")
    a("--opt_kwargs", type=str, help="optimizer keywords as a Python dict literal, e.g. "
                                     "\"{'lr': 0.05}\" ('lr' means 'alpha' for Adam)")
    a("--net_kwargs", type=str, help="model constructor keywords as a Python dict literal")
    a("--weight_decay", type=float, help="L2 weight decay rate (0 = none)")
    a("--lr_decay_schedule", type=str, help="epochs after which the learning rate is multiplied "
                                            "by --lr_decay_factor, e.g. 100-200-300 ('' = none)")
    a("--lr_decay_factor", type=float, help="learning-rate multiplier at each --lr_decay_schedule epoch "
                                            "(0: no decay, the schedule is ignored)")
    a("--transformations", type=str, help="training augmentation, comma-separated names applied in "
                                          "order ('' = none): " + augmentation.help_text())
    a("--val_freq", type=int, help="validate every this many epochs (and after the last)")
    a("--save_freq", type=int, help="snapshot every this many epochs (and after the last; 0: only after the last)")
    a("--gpu", type=int, help="CUDA device id, -1 for the CPU")
    a("--seed", type=int, help="random seed (initialisation, shuffling, augmentation, dropout), 0..2**32-1")
    a("--train_size", type=int, help="use only the first N training examples")
    a("--val_size", type=int, help="use only the first N validation (and test) examples")
    _add_subset_and_steps(a)
    a("--resume", action="store_true", help="continue the run in --resultdir from its snapshot")
    a("--communicator", choices=COMMUNICATORS, help="none: one process; else train on the processes "
      "of `mpiexec -n K` with this ChainerMN communicator (naive on CPUs, pure_nccl on GPUs), one "
      "--batchsize batch split across them (see gconv_experiments/training/distributed.py)")
    a("--quiet", action="store_true", help="no progress bars (one line per epoch only)")
    a("--verbose", action="store_true", help="show the full traceback of a model file that fails to import")
    a("--eval_batchsize", type=int, help="batch size of evaluation and BN re-estimation passes "
                                         "(None: --batchsize)")
    a("--normalization", type=str, choices=NORMALIZATIONS,
      help="input normalisation: train_scalar = subtract the mean of all training pixels and divide "
           "by their std (two scalars from the training set, applied to every split); "
           "none = data as stored")
    a("--bn_reestimation", type=str, choices=BN_REESTIMATIONS,
      help="BN population statistics before each evaluation: augmented = one shuffled pass over "
           "the training set in training mode with the training augmentation and dropout; clean = "
           "one pass without augmentation, dropout off; none = keep the running averages")
    a("--bn_averaging", type=str, choices=BN_AVERAGINGS,
      help="how --bn_reestimation averages over its pass: batch = every batch weighs the same "
           "(mean of per-batch means and unbiased variances: Chainer's finetune mode, as released); "
           "exact = mean and variance over all examples of the pass")
    p.set_defaults(**d)
    return p


def _add_subset_and_steps(a) -> None:
    """--train_subset, --subset_seed and --steps (added after the release; the defaults keep its
    behaviour: the first --train_size examples, --epochs whole epochs)."""
    a("--train_subset", type=str, choices=TRAIN_SUBSETS,
      help="which --train_size examples: first = the first N of the file; balanced = the first N of "
           "a class-balanced order drawn from --subset_seed (class counts differ by at most one, and "
           "a smaller subset lies inside a larger one of the same seed); at least --batchsize examples")
    a("--subset_seed", type=int, help="seed of --train_subset balanced's order (None: --seed)")
    a("--steps", type=int, help="stop after exactly N parameter updates (None: --epochs epochs); "
                                "it wins over --epochs: the run trains ceil(N / batches per epoch) "
                                "epochs, the last one cut short")


def _explicit_flags(parser, argv):
    """The dest names given explicitly on the command line `argv`."""
    probe = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS, allow_abbrev=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = dict(dest=action.dest)
            if isinstance(action, argparse._StoreTrueAction):
                kwargs["action"] = "store_true"
            probe.add_argument(*action.option_strings, **kwargs)
    return set(vars(probe.parse_known_args(argv)[0]))


# Keywords that are decay rates of running averages: 1 freezes the average (Adam's beta2 = 1
# gives zero-size steps, beta1 = 1 divides by zero), above 1 it diverges.
_DECAY_RATES = {"Adam": ("beta1", "beta2"), "MomentumSGD": ("momentum",), "NesterovAG": ("momentum",),
                "RMSprop": ("alpha",)}


def check_optimizer_kwargs(name: str, kwargs) -> tuple:
    """The keywords of chainer.optimizers.<name> that --opt_kwargs gives, checked; returns
    (keywords as the optimizer takes them, name of its lr hyperparameter). For Adam the learning
    rate is called 'alpha'; 'lr' is accepted as a synonym. The learning rate and 'eps' must be
    positive, the decay rates (Adam's beta1 and beta2, the momentum of MomentumSGD and
    NesterovAG, RMSprop's alpha) in [0, 1), any other number >= 0. ConfigError naming
    --opt_kwargs, the keyword and its value otherwise.

    >>> check_optimizer_kwargs("Adam", {"lr": 0.01})
    ({'alpha': 0.01}, 'alpha')
    >>> check_optimizer_kwargs("Adam", {"beta2": 1.0})
    Traceback (most recent call last):
    ...
    gconv_experiments.training.config.ConfigError: --opt_kwargs: Adam's 'beta2' must be in [0, 1), got 1.0
    """
    cls = getattr(chainer.optimizers, name)
    kwargs = dict(kwargs)
    lr_attr = "alpha" if name == "Adam" else "lr"
    if name == "Adam" and "lr" in kwargs:
        if "alpha" in kwargs:
            raise ConfigError("--opt_kwargs: give Adam's learning rate as 'alpha' or 'lr', not both")
        kwargs["alpha"] = kwargs.pop("lr")
    signature = inspect.signature(cls)
    try:
        signature.bind(**kwargs)
    except TypeError:
        raise ConfigError(f"--opt_kwargs {kwargs!r} do not fit {name}{signature}") from None
    for key, value in kwargs.items():
        default = signature.parameters[key].default
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "True or False"
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            expected = "a finite number"
            if ok and key in (lr_attr, "eps") and value <= 0:
                ok, expected = False, "a positive number"
            elif ok and key in _DECAY_RATES.get(name, ()) and not 0 <= value < 1:
                ok, expected = False, "in [0, 1)"
            elif ok and value < 0:
                ok, expected = False, "a number >= 0"
        if not ok:
            raise ConfigError(f"--opt_kwargs: {name}'s {key!r} must be {expected}, got {value!r}")
    return kwargs, lr_attr


def make_optimizer(name: str, kwargs) -> tuple:
    """Build chainer.optimizers.<name>(**kwargs) from the --opt_kwargs keywords, checked by
    :func:`check_optimizer_kwargs`; returns (optimizer, name of its lr hyperparameter)."""
    kwargs, lr_attr = check_optimizer_kwargs(name, kwargs)
    return getattr(chainer.optimizers, name)(**kwargs), lr_attr


def get_device(gpu: int):
    """chainer device for --gpu: NumPy for -1, CuPy device `gpu` otherwise."""
    if gpu < 0:
        return chainer.get_device("@numpy")
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no cupy, no driver, driver too old
        raise ConfigError(f"--gpu {gpu}: no usable CUDA device ({type(e).__name__}); use --gpu -1 for the CPU") from None
    if gpu >= count:
        raise ConfigError(f"--gpu {gpu}: only {count} CUDA device(s) present")
    device = chainer.get_device(f"@cupy:{gpu}")
    device.use()
    return device
