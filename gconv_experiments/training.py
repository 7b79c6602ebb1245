"""The one training implementation shared by every experiment's thin `train.py`.

A dataset folder's `train.py` only supplies defaults and where its models live::

    from gconv_experiments import training
    DEFAULTS = dict(modelfn='P4CNN', trainfn='train_all.npz', valfn='test.npz', epochs=100, ...)
    def main(argv=None):
        return training.main(argv, defaults=DEFAULTS,
                             models_package='gconv_experiments.MNIST_ROT.models')
    if __name__ == '__main__':
        sys.exit(training.cli(None, defaults=DEFAULTS, models_package=..., prog='MNIST_ROT/train.py'))

API
  build_parser(defaults=None, prog=None, description=None) -> argparse.ArgumentParser with the
      DESIGN section 5 flags plus --testfn, --train_size, --val_size, --resume, --quiet.
  main(argv=None, *, defaults=None, models_package=None, load_data=load_npz_dataset, prog=None,
      description=None) -> dict: trains, writes the result directory, returns the summary.
      Raises ConfigError (a ValueError) or FileNotFoundError for bad flags, files or data.
  cli(argv=None, **same keywords) -> int exit status; prints `prog: error: ...` for bad input.
  Classifier: base Chain for models; subclasses define logits(x).
  load_npz_dataset(path) -> (x float32 (N, C, H, W), y int32 (N,)) from an .npz with keys
      'data' and 'labels'; `load_data` may be replaced by any function with that signature.
  load_model_class(modelfn, models_package) -> the Chain class named by --modelfn: a path to a
      .py file (relative to the working directory or to gconv_experiments/) defining a class with
      the file's stem name, or a bare name (a module of `models_package`).
  evaluate(model, x, y, batchsize, device, label=..., quiet=True) -> (mean loss, error rate)
      in test mode.
  load_weights(snapshot_path, model): copy a snapshot's weights and BN statistics into model.
  reestimate_batchnorm(model, x, y, batchsize, device, label=..., quiet=True): recomputes every
      BatchNormalization's population statistics as the exact average over x (the paper's
      "finetune" step).

Model interface (`Classifier` is a base class providing it): `Model(**net_kwargs)`;
`model(x, t)` returns (loss, accuracy) Variables and
`model.logits(x)` the class scores (N, n_classes); `chainer.config.train` switches BN/dropout.

Result directory (--resultdir, default results/<model>_seed<seed>):
  args.json      the arguments of the run
  log.jsonl      one JSON object per epoch: epoch, train_loss, train_error, val_loss,
                 val_error (null on epochs without validation), lr, seconds, elapsed
  snapshot.h5    Chainer HDF5 serialisation of the model (at the file's root, so
                 chainer.serializers.load_hdf5('snapshot.h5', model) loads it) and of the
                 optimizer (group 'optimizer/') plus the epoch (root attribute), written every
                 --save_freq epochs and at the end into a temporary file beside it, flushed, then renamed
                 over the old one. training.load_weights(path, model) does the same.
  summary.json   final errors (fractions in [0, 1]), parameter count, timings.
Errors are fractions everywhere in the files; printed lines show percentages.

Reproducibility: the model is initialised from numpy's global RNG seeded with --seed. Each
epoch then draws its shuffling and augmentation from numpy.random.default_rng([seed, epoch]) and
reseeds numpy's global RNG (dropout) -- and CuPy's on a GPU -- from (seed, epoch); the BN
re-estimation before a validation reseeds them from (seed, epoch, 1). The random
state at an epoch boundary is therefore a function of (seed, epoch), so `--resume` restores
model, optimizer and epoch from the snapshot and continues bit-for-bit on the CPU (on a GPU up
to cuDNN's non-determinism).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import sys
import time
import zipfile

import chainer
import chainer.functions as F
import chainer.links as L
import h5py
import numpy as np
import progressbar
from chainer import optimizer_hooks, serializers

from groupy import fast_cpu

from gconv_experiments import augmentation
from gconv_experiments.atomic_file import atomic_path, write_text

PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
OPTIMIZERS = ("MomentumSGD", "Adam", "AdaGrad", "RMSprop", "NesterovAG")
ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE = "args.json", "log.jsonl", "snapshot.h5", "summary.json"

BASE_DEFAULTS = dict(
    datadir=".", resultdir=None, modelfn=None, trainfn="train.npz", valfn="valid.npz",
    testfn=None, epochs=100, batchsize=128, opt="Adam", opt_kwargs="{}", net_kwargs="{}",
    weight_decay=0.0, lr_decay_schedule="", lr_decay_factor=0.1, transformations="",
    val_freq=1, save_freq=1, gpu=-1, seed=0, train_size=None, val_size=None,
    resume=False, quiet=False,
)
# Flags that may take new values when a run is resumed; every other flag given on the command
# line must match args.json. Flags not given are taken from args.json.
RESUMABLE_CHANGES = {"epochs", "gpu", "val_freq", "save_freq", "datadir", "resultdir", "resume", "quiet"}


class ConfigError(ValueError):
    """A bad flag, file or data set, reported to the user as one clear line."""


class Classifier(chainer.Chain):
    """Base class of the experiment models: a subclass defines `logits(x)` -> (N, n_classes);
    calling the model as `model(x, t)` gives (softmax cross-entropy loss, accuracy)."""

    def logits(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define logits(x)")

    def forward(self, x, t):
        y = self.logits(x)
        return F.softmax_cross_entropy(y, t), F.accuracy(y, t)


# ----------------------------------------------------------------------------- arguments

def build_parser(defaults=None, prog=None, description=None):
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
    a("--lr_decay_factor", type=float, help="learning-rate multiplier at each --lr_decay_schedule epoch")
    a("--transformations", type=str, help="training augmentation, comma-separated: "
                                          + ", ".join(augmentation.TRANSFORMATIONS) + " ('' = none)")
    a("--val_freq", type=int, help="validate every this many epochs (and after the last)")
    a("--save_freq", type=int, help="snapshot every this many epochs (and after the last)")
    a("--gpu", type=int, help="CUDA device id, -1 for the CPU")
    a("--seed", type=int, help="random seed (initialisation, shuffling, augmentation, dropout), 0..2**32-1")
    a("--train_size", type=int, help="use only the first N training examples")
    a("--val_size", type=int, help="use only the first N validation (and test) examples")
    a("--resume", action="store_true", help="continue the run in --resultdir from its snapshot")
    a("--quiet", action="store_true", help="no progress bars (one line per epoch only)")
    p.set_defaults(**d)
    return p


def _literal_dict(text, flag):
    try:
        value = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"{flag} must be a Python dict literal such as \"{{'lr': 0.05}}\", "
                          f"got {text!r} ({type(e).__name__})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{flag} must be a dict with string keys, got {text!r}")
    return value


def parse_schedule(text):
    """'100-200-300' -> [100, 200, 300]; '' or 'none' -> []."""
    text = (text or "").strip()
    if text.lower() in ("", "none"):
        return []
    try:
        epochs = [int(part) for part in text.split("-")]
    except ValueError:
        raise ConfigError(f"--lr_decay_schedule must be epochs joined by '-', e.g. 100-200-300, "
                          f"got {text!r}") from None
    if any(e <= 0 for e in epochs) or epochs != sorted(set(epochs)):
        raise ConfigError(f"--lr_decay_schedule epochs must be positive and increasing, got {text!r}")
    return epochs


def check_args(args):
    """Validate parsed arguments; returns (opt_kwargs, net_kwargs, schedule). Raises ConfigError."""
    for flag in ("epochs", "batchsize", "val_freq", "save_freq"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    for flag in ("train_size", "val_size"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    if not 0 <= args.seed < 2 ** 32:
        raise ConfigError(f"--seed must be an integer in 0..{2 ** 32 - 1}, got {args.seed}")
    if args.gpu < -1:
        raise ConfigError(f"--gpu must be -1 (CPU) or a device id >= 0, got {args.gpu}")
    if args.weight_decay < 0:
        raise ConfigError(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if args.lr_decay_factor <= 0:
        raise ConfigError(f"--lr_decay_factor must be > 0, got {args.lr_decay_factor}")
    if not args.modelfn:
        raise ConfigError("--modelfn is required (a model name or a path to a model file)")
    if args.opt not in OPTIMIZERS:
        raise ConfigError(f"--opt must be one of {', '.join(OPTIMIZERS)}, got {args.opt!r}")
    try:
        augmentation.parse_transformations(args.transformations)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--transformations: {e}") from None
    return (_literal_dict(args.opt_kwargs, "--opt_kwargs"), _literal_dict(args.net_kwargs, "--net_kwargs"),
            parse_schedule(args.lr_decay_schedule))


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


# ----------------------------------------------------------------------------- data and models

def load_npz_dataset(path):
    """Read an .npz with 'data' (N, C, H, W) floats and 'labels' (N,) integers >= 0.

    Returns (data as float32, labels as int32). Raises FileNotFoundError or ConfigError naming
    the file and what was expected.
    """
    expected = "an .npz file with 'data' (N, C, H, W) float32 and 'labels' (N,) int32"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path} not found (expected {expected})")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("data", "labels") if k not in f.files]
            if missing:
                raise ConfigError(f"{path}: missing key(s) {missing} (found {f.files}; expected {expected})")
            data, labels = f["data"], f["labels"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: cannot read it as .npz ({e}); expected {expected}") from None
    if data.ndim != 4 or not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise ConfigError(f"{path}: 'data' must be a numeric array of shape (N, C, H, W), "
                          f"got {data.dtype} {data.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(data):
        raise ConfigError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ConfigError(f"{path}: the data set is empty")
    if labels.min() < 0:
        raise ConfigError(f"{path}: labels must be >= 0, found {labels.min()}")
    return data.astype(np.float32, copy=False), labels.astype(np.int32)


def available_models(models_package):
    """Names of the model modules in `models_package` (e.g. 'gconv_experiments.MNIST_ROT.models')."""
    if not models_package:
        return []
    package = importlib.import_module(models_package)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def load_model_class(modelfn, models_package=None):
    """Resolve --modelfn (a path to <Name>.py or a bare Name) to the Chain class `Name`."""
    is_path = modelfn.endswith(".py") or "/" in modelfn or os.sep in modelfn
    if is_path:
        candidates = [modelfn] if os.path.isabs(modelfn) else [modelfn, os.path.join(PACKAGE_ROOT, modelfn)]
        if models_package and not os.path.isabs(modelfn) and os.path.dirname(modelfn) == "":
            package_dir = os.path.dirname(importlib.import_module(models_package).__file__)
            candidates.append(os.path.join(package_dir, modelfn))
        candidates = list(dict.fromkeys(os.path.abspath(c) for c in candidates))
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            raise ConfigError(f"--modelfn {modelfn}: no such model file (looked for "
                              f"{', '.join(candidates)})")
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(f"gconv_model_{name}", os.path.abspath(path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        where = path
    else:
        name = modelfn
        names = available_models(models_package)
        if name not in names:
            raise ConfigError(f"--modelfn {modelfn!r}: unknown model; available: {', '.join(names) or 'none'} "
                              f"(or give a path to a model .py file)")
        module = importlib.import_module(f"{models_package}.{name}")
        where = module.__file__
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, chainer.Link)):
        raise ConfigError(f"--modelfn {modelfn}: {where} must define a chainer.Chain class named {name!r}")
    return cls


def build_model(cls, net_kwargs):
    try:
        inspect.signature(cls).bind(**net_kwargs)
    except TypeError as e:
        raise ConfigError(f"--net_kwargs {net_kwargs!r} do not fit {cls.__name__}{inspect.signature(cls)}: {e}") from None
    try:
        return cls(**net_kwargs)
    except (ValueError, TypeError) as e:  # the model's own check of its arguments
        raise ConfigError(f"--net_kwargs {net_kwargs!r}: {cls.__name__} rejects them: {e}") from None


def count_parameters(model):
    return int(sum(p.size for p in model.params()))


def make_optimizer(name, kwargs):
    """Build chainer.optimizers.<name>(**kwargs); returns (optimizer, name of its lr hyperparameter).

    For Adam the learning rate is called 'alpha'; 'lr' is accepted as a synonym.
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
            if ok and key == lr_attr and value <= 0:
                ok, expected = False, "a positive number"
            elif ok and value < 0:
                ok, expected = False, "a number >= 0"
        if not ok:
            raise ConfigError(f"--opt_kwargs: {name}'s {key!r} must be {expected}, got {value!r}")
    return cls(**kwargs), lr_attr


def get_device(gpu):
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


def seed_epoch(seed, epoch, device):
    """Seed every random source for `epoch`; returns the epoch's numpy Generator (shuffle, augmentation)."""
    np.random.seed([seed, epoch])  # initialisers and dropout on the CPU
    if device.xp is not np:
        device.xp.random.seed(seed * 1000003 + epoch)
    return np.random.default_rng([seed, epoch])


def seed_validation(seed, epoch, device):
    """Seed the global RNGs (dropout) for the BN re-estimation after `epoch`, so that the
    validation result is a function of (weights, seed, epoch): re-evaluating a resumed, finished
    run reproduces it exactly."""
    np.random.seed([seed, epoch, 1])
    if device.xp is not np:
        device.xp.random.seed((seed * 1000003 + epoch) * 2 + 1)


# ----------------------------------------------------------------------------- loops

class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of each write. (Given sys.stderr itself,
    progressbar2 swaps in the stream it saw when it was imported, which may since have been
    replaced or closed, e.g. by output capturing.)"""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()

    def isatty(self):
        return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _NoBar:
    """Stands in for a progress bar when quiet."""

    def update(self, value):
        pass

    def finish(self):
        pass


def _bar(n, label, quiet):
    """A started progressbar2 bar over n examples, or a do-nothing bar when quiet."""
    if quiet:
        return _NoBar()
    widgets = [label, " ", progressbar.Percentage(), " ", progressbar.Bar(), " ", progressbar.ETA()]
    return progressbar.ProgressBar(max_value=n, widgets=widgets, fd=_CurrentStderr()).start()


def _batches(n, batchsize):
    return [(i, min(i + batchsize, n)) for i in range(0, n, batchsize)]


def evaluate(model, x, y, batchsize, device, label="evaluating", quiet=True):
    """Mean loss and error rate of `model` on (x, y) in test mode (no augmentation); a progress
    bar labelled `label` unless quiet."""
    total_loss, total_acc = 0.0, 0.0
    bar = _bar(len(x), label, quiet)
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        for i, j in _batches(len(x), batchsize):
            loss, acc = model(device.send(x[i:j]), device.send(y[i:j]))
            total_loss += loss.array * (j - i)
            total_acc += acc.array * (j - i)
            bar.update(j)
    bar.finish()
    return float(total_loss) / len(x), 1.0 - float(total_acc) / len(x)


def reestimate_batchnorm(model, x, y, batchsize, device, label="BN statistics", quiet=True):
    """Replace each BatchNormalization's running mean/variance by their average over (x, y).

    The model runs in training mode without backprop; before batch k of size n_k, after `seen`
    examples, every BN's decay is set to seen / (seen + n_k), so its running statistics become
    the size-weighted mean of the per-batch statistics. Decays are restored afterwards.
    A progress bar labelled `label` is shown unless quiet.
    """
    bns = [link for link in model.links() if isinstance(link, L.BatchNormalization)]
    if not bns:
        return
    decays = [bn.decay for bn in bns]
    bar = _bar(len(x), label, quiet)
    try:
        with chainer.using_config("train", True), chainer.using_config("enable_backprop", False):
            seen = 0
            for i, j in _batches(len(x), batchsize):
                for bn in bns:
                    bn.decay = seen / (seen + (j - i))
                model(device.send(x[i:j]), device.send(y[i:j]))
                seen += j - i
                bar.update(j)
    finally:
        for bn, decay in zip(bns, decays):
            bn.decay = decay
    bar.finish()


def train_epoch(model, optimizer, x, y, batchsize, transformations, rng, device, label, quiet):
    """One pass over (x, y) in a random order; returns (mean train loss, train error)."""
    n = len(x)
    order = rng.permutation(n)
    total_loss, total_acc = 0.0, 0.0
    bar = _bar(n, label, quiet)
    with chainer.using_config("train", True):
        for i, j in _batches(n, batchsize):
            idx = order[i:j]
            xb = augmentation.apply_transformations(x[idx], transformations, rng)
            loss, acc = model(device.send(np.ascontiguousarray(xb, dtype=np.float32)), device.send(y[idx]))
            model.cleargrads()
            loss.backward()
            optimizer.update()
            total_loss += loss.array * (j - i)
            total_acc += acc.array * (j - i)
            bar.update(j)
    bar.finish()
    return float(total_loss) / n, 1.0 - float(total_acc) / n


# ----------------------------------------------------------------------------- files

SNAPSHOT_LAYOUT = "model at the root, optimizer in optimizer/"


def _model_group(f):
    """The HDF5 group holding the model: the root (this layout), or 'model/' in snapshots
    written before the model moved to the root."""
    if "layout" not in f.attrs and isinstance(f.get("model"), h5py.Group):
        return f["model"]
    return f


def save_snapshot(path, model, optimizer, epoch):
    """Serialise model and optimizer (Chainer HDF5) plus the epoch into `path` atomically.

    The model sits at the file's root, so ``chainer.serializers.load_hdf5(path, model)`` reads
    it as any Chainer model file; the optimizer is in the group 'optimizer/', the epoch in the
    root attribute 'epoch'. Written through atomic_file.atomic_path (temp file, fsync, rename).
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        serializers.HDF5Serializer(f).save(model)
        serializers.HDF5Serializer(f.create_group("optimizer")).save(optimizer)
        f.attrs["epoch"] = epoch
        f.attrs["layout"] = SNAPSHOT_LAYOUT


def load_snapshot(path, model, optimizer):
    """Restore model and optimizer from `path`; returns the snapshot's epoch."""
    try:
        with h5py.File(path, "r") as f:
            epoch = int(f.attrs["epoch"])
            serializers.HDF5Deserializer(_model_group(f)).load(model)
            serializers.HDF5Deserializer(f["optimizer"]).load(optimizer)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"{path}: cannot restore the snapshot ({type(e).__name__}: {e}); "
                          f"it must be written by this training code for the same model") from None
    return epoch


def load_weights(path, model):
    """Copy the weights and BN statistics of snapshot `path` into `model` (built with the run's
    --net_kwargs); returns model."""
    try:
        with h5py.File(path, "r") as f:
            serializers.HDF5Deserializer(_model_group(f)).load(model)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"{path}: cannot load model weights ({type(e).__name__}: {e})") from None
    return model


def read_log(path, drop_partial_last=False):
    """The entries of a JSON-lines log ([] if there is no file). A line that is not a JSON
    object raises ConfigError naming the file and line -- except, with drop_partial_last, the
    last line (a write cut short by a kill), which is dropped."""
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    entries = []
    for k, (n, line) in enumerate(lines):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
                raise ValueError("not an object with an integer 'epoch'")
        except ValueError as e:
            if drop_partial_last and k == len(lines) - 1:
                break
            raise ConfigError(f"{path}, line {n}: expected one JSON object per epoch with an integer "
                              f"'epoch' ({e})") from None
        entries.append(entry)
    return entries


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ----------------------------------------------------------------------------- main

def _resolve_resume(args, explicit):
    """Fill args from the saved args.json of the run being resumed; check for conflicts."""
    saved_path = os.path.join(args.resultdir, ARGS_FILE)
    if not os.path.isfile(os.path.join(args.resultdir, SNAPSHOT_FILE)):
        raise ConfigError(f"--resume: no {SNAPSHOT_FILE} in {args.resultdir} to resume from")
    if not os.path.isfile(saved_path):
        raise ConfigError(f"--resume: {saved_path} is missing")
    try:
        with open(saved_path) as f:
            saved = json.load(f)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise ConfigError(f"--resume: cannot read {saved_path} ({e}); expected the JSON object of "
                          f"flags written by the run") from None
    for key, value in saved.items():
        if not hasattr(args, key) or key in ("resume", "quiet"):
            continue
        if key not in explicit:
            setattr(args, key, value)
        elif key not in RESUMABLE_CHANGES and getattr(args, key) != value:
            changeable = ", ".join("--" + k for k in sorted(RESUMABLE_CHANGES - {"resume", "quiet"}))
            raise ConfigError(f"--resume: --{key} {getattr(args, key)!r} differs from the run being "
                              f"resumed ({value!r} in {saved_path}); only {changeable} may change")


def main(argv=None, *, defaults=None, models_package=None, load_data=load_npz_dataset,
         prog=None, description=None):
    """Parse `argv` (default sys.argv[1:]), train, write the result directory; returns the summary."""
    parser = build_parser(defaults, prog=prog, description=description)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.resultdir is None:
        if not args.modelfn:
            raise ConfigError("--modelfn is required (a model name or a path to a model file)")
        stem = os.path.splitext(os.path.basename(args.modelfn))[0]
        args.resultdir = os.path.join("results", f"{stem}_seed{args.seed}")
    if args.resume:
        _resolve_resume(args, _explicit_flags(parser, argv))
    opt_kwargs, net_kwargs, schedule = check_args(args)
    out = args.resultdir
    snapshot_path, log_path = os.path.join(out, SNAPSHOT_FILE), os.path.join(out, LOG_FILE)
    if not args.resume and any(os.path.exists(os.path.join(out, f)) for f in (SNAPSHOT_FILE, SUMMARY_FILE, LOG_FILE)):
        raise ConfigError(f"--resultdir {out} already holds a run; pass --resume to continue it "
                          f"or choose another --resultdir")

    cls = load_model_class(args.modelfn, models_package)
    device = get_device(args.gpu)
    if device.xp is np:
        fast_cpu.keep_freed_memory()  # reuse freed pages between steps (see groupy's fast_cpu)

    def read(fn, size):
        x, y = load_data(os.path.join(args.datadir, fn))
        return (x[:size], y[:size]) if size else (x, y)

    np.random.seed(args.seed)
    if device.xp is not np:
        device.xp.random.seed(args.seed)
    model = build_model(cls, net_kwargs)  # before the (possibly slow) data loading: fail fast

    train_x, train_y = read(args.trainfn, args.train_size)
    val_x, val_y = read(args.valfn, args.val_size)
    test_path = os.path.join(args.datadir, args.testfn or args.valfn)
    _probe(model, train_x, train_y, val_x, val_y, args)
    optimizer, lr_attr = make_optimizer(args.opt, opt_kwargs)
    base_lr = getattr(optimizer, lr_attr)
    optimizer.setup(model)
    if args.weight_decay > 0:
        optimizer.add_hook(optimizer_hooks.WeightDecay(args.weight_decay))

    start_epoch, log = 0, []
    if args.resume:
        start_epoch = load_snapshot(snapshot_path, model, optimizer)
        if start_epoch > args.epochs:
            raise ConfigError(f"--resume: the snapshot in {out} is at epoch {start_epoch}, beyond --epochs {args.epochs}")
        log = [entry for entry in read_log(log_path, drop_partial_last=True) if entry["epoch"] <= start_epoch]
        write_text(log_path, "".join(json.dumps(e) + "\n" for e in log))
    else:
        os.makedirs(out, exist_ok=True)
    saved_args = {k: v for k, v in vars(args).items() if k not in ("resume", "quiet")}
    write_text(os.path.join(out, ARGS_FILE), json.dumps(saved_args, indent=2) + "\n")
    model.to_device(device)
    n_params = count_parameters(model)
    name = cls.__name__
    print(f"{name}: {n_params:,} parameters; {len(train_x)} training / {len(val_x)} validation examples; "
          f"{'resuming after epoch %d; ' % start_epoch if args.resume else ''}results in {out}", flush=True)

    def validate(epoch):
        seed_validation(args.seed, epoch, device)
        reestimate_batchnorm(model, train_x, train_y, args.batchsize, device,
                             f"{name} epoch {epoch} BN statistics", args.quiet)
        return evaluate(model, val_x, val_y, args.batchsize, device,
                        f"{name} epoch {epoch} validation", args.quiet)

    elapsed = log[-1]["elapsed"] if log else 0.0
    val_loss = val_error = None
    for epoch in range(start_epoch + 1, args.epochs + 1):
        t0 = time.perf_counter()
        lr = base_lr * args.lr_decay_factor ** sum(epoch > e for e in schedule)
        setattr(optimizer, lr_attr, lr)
        rng = seed_epoch(args.seed, epoch, device)
        train_loss, train_error = train_epoch(
            model, optimizer, train_x, train_y, args.batchsize, args.transformations, rng, device,
            f"{name} epoch {epoch}/{args.epochs}", args.quiet)
        train_seconds = time.perf_counter() - t0
        val_loss = val_error = None
        if epoch % args.val_freq == 0 or epoch == args.epochs:
            val_loss, val_error = validate(epoch)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        entry = dict(epoch=epoch, train_loss=train_loss, train_error=train_error, val_loss=val_loss,
                     val_error=val_error, lr=lr, seconds=seconds, train_seconds=train_seconds, elapsed=elapsed)
        log.append(entry)
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        val_text = "" if val_error is None else f", val loss {val_loss:.4f} error {100 * val_error:.2f}%"
        print(f"epoch {epoch}: train loss {train_loss:.4f} error {100 * train_error:.2f}%{val_text} "
              f"({seconds:.1f} s)", flush=True)
        if epoch % args.save_freq == 0 or epoch == args.epochs:
            save_snapshot(snapshot_path, model, optimizer, epoch)

    if val_error is None:  # nothing left to train (resumed at the last epoch): evaluate again
        val_loss, val_error = validate(args.epochs)
    if args.testfn:
        test_x, test_y = read(args.testfn, args.val_size)
        test_loss, test_error = evaluate(model, test_x, test_y, args.batchsize, device,
                                         f"{name} test", args.quiet)
    else:
        test_loss, test_error = val_loss, val_error
    last = log[-1] if log else {}
    summary = dict(
        model=name, modelfn=args.modelfn, seed=args.seed, epochs=args.epochs, n_params=n_params,
        train_loss=last.get("train_loss"), train_error=last.get("train_error"),
        val_file=os.path.join(args.datadir, args.valfn), val_loss=val_loss, val_error=val_error,
        test_file=test_path, test_loss=test_loss, test_error=test_error,
        seconds_total=elapsed,
        seconds_per_epoch=float(np.mean([e["train_seconds"] for e in log])) if log else None,
        device=str(device), resultdir=out,
    )
    write_text(os.path.join(out, SUMMARY_FILE), json.dumps(summary, indent=2, default=_json_default) + "\n")
    print(f"{name} test error: {100 * test_error:.2f}% on {test_path} after {args.epochs} epochs "
          f"(summary in {os.path.join(out, SUMMARY_FILE)})", flush=True)
    return summary


def _probe(model, train_x, train_y, val_x, val_y, args):
    """Run one example through the model (test mode, no state change) to check data/model fit."""
    if train_x.shape[1:] != val_x.shape[1:]:
        raise ConfigError(f"--trainfn images have shape {train_x.shape[1:]} but --valfn images {val_x.shape[1:]}")
    try:
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
            scores = model.logits(train_x[:1])
    except Exception as e:
        raise ConfigError(f"model {type(model).__name__} cannot process images of shape {train_x.shape[1:]} "
                          f"from {os.path.join(args.datadir, args.trainfn)}: {type(e).__name__}: {e}") from None
    n_classes = scores.shape[1]
    for fn, y in ((args.trainfn, train_y), (args.valfn, val_y)):
        if y.max() >= n_classes:
            raise ConfigError(f"{os.path.join(args.datadir, fn)}: label {y.max()} out of range "
                              f"for {type(model).__name__}'s {n_classes} classes")


def cli(argv=None, **kwargs):
    """Command-line entry: run main(); report bad input as `prog: error: message`, exit status 2."""
    prog = kwargs.get("prog") or os.path.basename(sys.argv[0])
    try:
        main(argv, **kwargs)
    except (ConfigError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0
