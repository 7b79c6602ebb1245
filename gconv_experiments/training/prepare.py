"""Everything a run checks before its first epoch: the result folder, the data splits (read
and checked once, checked against each other and the model, normalised), and the model's fit
to its --net_kwconfig. `config` is the run's RunConfig (training.settings) or anything with the
same attributes."""
import argparse
import dataclasses
import hashlib
import os
import sys
from typing import Callable

import chainer
import numpy as np
from chainer import optimizer_hooks

from groupy import fast_cpu
from groupy.fast_cpu.switch import kernel_settings

from gconv_experiments.training import distributed, hooks
from gconv_experiments.training.config import ConfigError, get_device, make_optimizer
from gconv_experiments.training.data import (
    check_dataset, check_labels, normalization_constants, normalize, train_subset_indices)
from gconv_experiments.training.fingerprint import RUN_FILE, build_record, data_file_record, differences, read_record
from gconv_experiments.training.folder_lock import check_writable
from gconv_experiments.training.models import build_model, load_model_class
from gconv_experiments.training.run_folder import RUN_FOLDER_FILES, RunFolder
from gconv_experiments.training.settings import RunConfig, check_args
from gconv_experiments.training.stop import NEVER, StopRequests

__all__ = ["Training", "prepare", "SPLITS", "check_resultdir", "load_splits", "normalize_splits", "probe_model", "data_records", "batches_per_epoch",
           "saved_record", "kernels_of_run", "KERNELS_BEFORE_THE_RECORD"]

SPLITS = (("trainfn", "train_size"), ("valfn", "val_size"), ("testfn", "val_size"))


def check_resultdir(out: str, resume: bool) -> None:
    """--resultdir must be a folder (or not exist yet) that this process can write; without
    --resume it must not hold a run."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--resultdir {out} is an existing file, not a folder; choose another --resultdir")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(f"--resultdir {out}: {parent} is a file, not a folder")
    check_writable(out)
    if not resume and any(os.path.exists(os.path.join(out, f)) for f in RUN_FOLDER_FILES):
        raise ConfigError(f"--resultdir {out} already holds a run; pass --resume to continue it "
                          f"or choose another --resultdir")


def load_splits(config: RunConfig, load_data: Callable) -> dict:
    """{flag: (x float32, y int32)} for --trainfn, --valfn and (when given) --testfn, truncated
    to --train_size / --val_size (which must not exceed the file); the training split is the
    --train_subset of that size. What `load_data` returns is checked here, once
    (data.check_dataset: finite pixels, labels as returned). Errors name the flag."""
    splits = {}
    for flag, size_flag in SPLITS:
        fn = getattr(config, flag)
        if not fn:
            continue
        path = os.path.join(config.datadir, fn)
        try:
            x, y = check_dataset(path, *load_data(path))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"--{flag} (in --datadir {config.datadir}): {e}") from None
        except ConfigError as e:
            raise ConfigError(f"--{flag}: {e}") from None
        size = getattr(config, size_flag)
        if size and size > len(x):
            raise ConfigError(f"--{size_flag} {size} exceeds the {len(x)} examples of --{flag} {path}")
        if flag == "trainfn" and config.train_subset != "first":
            index = train_subset_indices(y, size, config.train_subset, config.subset_seed)
            splits[flag] = (x[index], y[index])
        else:
            splits[flag] = (x[:size], y[:size]) if size else (x, y)
    n_train = len(splits["trainfn"][1])
    if config.train_subset != "first" and n_train < config.batchsize:
        raise ConfigError(f"--trainfn holds {n_train} examples, fewer than --batchsize {config.batchsize}: "
                          f"a --train_subset {config.train_subset} subset must hold at least one whole batch")
    return splits


def normalize_splits(splits: dict, mode: str) -> tuple:
    """Apply --normalization: constants from the training split, the same ones to every split.
    Returns (new splits, (shift, scale))."""
    shift, scale = normalization_constants(splits["trainfn"][0], mode)
    return {flag: (normalize(x, shift, scale), y) for flag, (x, y) in splits.items()}, (shift, scale)


def probe_model(model: chainer.Link, splits: dict, config: RunConfig) -> None:
    """Check the data against the model before training: every split's images have the training
    images' shape, the model maps them to class scores, every label is < the number of classes,
    and one training-mode forward pass (on a copy, so no state changes) works with --net_kwconfig."""
    train_x = splits["trainfn"][0]
    name = type(model).__name__
    for flag, (x, _) in splits.items():
        if x.shape[1:] != train_x.shape[1:]:
            raise ConfigError(f"--{flag} {os.path.join(config.datadir, getattr(config, flag))}: images have shape "
                              f"{x.shape[1:]} but --trainfn images {train_x.shape[1:]}")
    try:
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
            scores = model.logits(train_x[:2])
    except Exception as e:
        raise ConfigError(f"model {name} cannot process images of shape {train_x.shape[1:]} from --trainfn "
                          f"{os.path.join(config.datadir, config.trainfn)}: {type(e).__name__}: {e}") from None
    n_classes = scores.shape[1]
    for flag, (_, y) in splits.items():
        check_labels(f"--{flag} {os.path.join(config.datadir, getattr(config, flag))} ({name} has {n_classes} classes)",
                     y, n_classes)
    try:
        with chainer.using_config("train", True), chainer.using_config("enable_backprop", False):
            model.copy(mode="copy").logits(train_x[:2])
    except Exception as e:
        raise ConfigError(f"--net_kwargs {config.net_kwargs!r}: {name} fails in a training-mode forward pass: "
                          f"{type(e).__name__}: {e}") from None


def data_records(config: RunConfig, splits: dict) -> dict:
    """{flag: {"path", "size", "sha256"}} of the data files read; a split read from elsewhere by
    a load_data hook (no file at the path) is hashed by its arrays (size None)."""
    records = {}
    for flag, (x, y) in splits.items():
        path = os.path.join(config.datadir, getattr(config, flag))
        if os.path.isfile(path):
            records[flag] = data_file_record(path)
        else:
            h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
            h.update(np.ascontiguousarray(y).tobytes())
            records[flag] = {"path": os.path.abspath(path), "size": None, "sha256": h.hexdigest()}
    return records


def batches_per_epoch(config: RunConfig, splits: dict) -> int:
    """The parameter updates of one whole epoch: ceil(training examples / --batchsize)."""
    return -(-len(splits["trainfn"][1]) // config.batchsize)


def saved_record(out: str) -> "dict | None":
    """The run record of the run in folder `out`, or None if it has none (an older run)."""
    path = os.path.join(out, RUN_FILE)
    return read_record(path) if os.path.isfile(path) else None


@dataclasses.dataclass
class Training:
    """A prepared run (:func:`prepare`): its configuration (input normalisation filled in), this
    process's ranks and device, the model and optimizer (restored from the snapshot when
    resumed), the normalised splits, the run record, the run folder and the epochs logged."""
    config: RunConfig
    ranks: distributed.Ranks
    device: object
    model: chainer.Link
    optimizer: object
    lr_attr: str
    base_lr: float
    splits: dict
    record: dict
    folder: RunFolder
    start_epoch: int
    log: list
    stop: StopRequests = NEVER  # the stop requests (SIGINT, SIGTERM) that fit obeys

    @property
    def name(self) -> str:
        return type(self.model).__name__


def _seeded_model(cls, config, device):
    """The model, initialised from numpy's global RNG (and CuPy's) seeded with --seed."""
    if device.xp is np:
        fast_cpu.keep_freed_memory()  # reuse freed pages between steps (see groupy's fast_cpu)
    np.random.seed(config.seed)
    if device.xp is not np:
        device.xp.random.seed(config.seed)
    return build_model(cls, config.net_kwargs)


def _check_resume(config, record, ranks):
    """--resume: the run folder's record must match this run's (else ConfigError naming the
    differences); a note when groupy's CPU thread count changed."""
    saved = saved_record(config.resultdir)
    diffs = differences(saved, record) if saved is not None else []
    if diffs:
        raise ConfigError(f"--resume: {config.resultdir} was trained with other settings: {'; '.join(diffs)}. "
                          f"Give the run's settings, or start a new run in another --resultdir")
    before = (saved or {}).get("conv_threads")
    if before is not None and before != fast_cpu.get_num_threads() and not ranks.distributed:
        print(f"note: {config.resultdir} was trained with {before} groupy CPU thread(s), this process uses "
              f"{fast_cpu.get_num_threads()} (GROUPY_CPU_CONV_THREADS): the continuation is not "
              f"bit-for-bit (per-thread partial sums round differently)", file=sys.stderr)


#: the CPU code paths of a run whose record predates "cpu_kernels": the compiled kernels were
#: off by default then (the other paths have not changed their default)
KERNELS_BEFORE_THE_RECORD = {"numba": False}


def kernels_of_run(recorded: "dict | None", resultdir: str, *, resume: bool, say: bool = True) -> dict:
    """The CPU code paths (groupy.fast_cpu.switch.kernel_settings) a run trains on: this
    process's for a new run; on --resume the ones ``recorded`` when the run started (None: a
    record from before they were recorded), with a note on stderr (``say``) naming those that
    differ from this process's, so that the continuation is the run's own, bit for bit."""
    current = kernel_settings()
    if not resume:
        return current
    kernels = dict(current, **(KERNELS_BEFORE_THE_RECORD if recorded is None else recorded))
    changed = [f"{key} {kernels[key]} (this process: {current[key]})" for key in sorted(current)
               if kernels[key] != current[key]]
    if changed and say:
        print(f"note: {resultdir} continues on the CPU code paths it was trained with: "
              f"{', '.join(changed)}", file=sys.stderr)
    return kernels


def _optimizer(config, model, ranks, n_train):
    """(optimizer set up on the model, name of its lr hyperparameter), wrapped for the ranks."""
    ranks.check_batches(n_train, batchsize=config.batchsize, eval_batchsize=config.eval_batchsize)
    ranks.prepare_model(model)
    optimizer, lr_attr = make_optimizer(config.opt, config.opt_kwargs)
    optimizer.setup(model)
    if config.weight_decay > 0:
        optimizer.add_hook(optimizer_hooks.WeightDecay(config.weight_decay))
    hooks.setup_optimizer(model, optimizer)  # the model's own settings (training.hooks), also on --resume
    return ranks.optimizer(optimizer), lr_attr


def prepare(args: argparse.Namespace, *, models_package: "str | None", load_data: Callable) -> Training:
    """Check the parsed flags, join the ranks, create and lock the run folder, build the model,
    read and check the data, check a resumed run against its record, build the optimizer and
    set up the run folder (restoring the snapshot when resumed, writing the run files). The
    folder stays locked until ``finish`` ends or ``fit`` or ``finish`` raises (or until
    ``run.folder.release()``); on an error in here it is released at once."""
    config = check_args(args)
    check_resultdir(config.resultdir, resume=True)  # whether it holds a run: once it is locked
    ranks = distributed.start(config.communicator, config.gpu)
    folder = RunFolder(config.resultdir, ranks.writes)
    try:
        folder.create()  # locked from here: another process writing this folder is refused
        if ranks.writes:
            check_resultdir(config.resultdir, config.resume)
        return _prepare(args, config, ranks, folder, models_package, load_data)
    except BaseException:
        folder.release(failed=True)
        raise


def _prepare(args, config, ranks, folder, models_package, load_data):
    if not ranks.writes:
        config = dataclasses.replace(config, quiet=True)  # rank 0 alone shows progress
    cls = load_model_class(config.modelfn, models_package, verbose=config.verbose)
    device = get_device(ranks.device_id(config.gpu))
    model = _seeded_model(cls, config, device)  # before the (possibly slow) data loading: fail fast
    splits = ranks.rank0_first(load_splits, config, load_data)
    probe_model(model, splits, config)
    record = build_record(args, models_package, cls, data=data_records(config, splits))
    if config.resume:
        _check_resume(config, record, ranks)
    record["conv_threads"] = fast_cpu.get_num_threads()  # numbers depend on it in the last bits
    record["cpu_kernels"] = kernels_of_run((saved_record(config.resultdir) or {}).get("cpu_kernels"),
                                           config.resultdir, resume=config.resume, say=ranks.writes)
    splits, constants = normalize_splits(splits, config.normalization)
    config = config.with_input_normalization(*constants).with_steps(batches_per_epoch(config, splits))
    record["settings"] = config.to_json()
    optimizer, lr_attr = _optimizer(config, model, ranks, len(splits["trainfn"][0]))
    base_lr = getattr(optimizer, lr_attr)  # before a snapshot is restored
    start_epoch, log = folder.restore(model, optimizer, config.epochs, config.resume)
    per_epoch = batches_per_epoch(config, splits)
    hooks.training_progress(model, start_epoch * per_epoch, config.total_updates(per_epoch))
    folder.write_run_files(args, record)
    model.to_device(device)
    return Training(config, ranks, device, model, optimizer, lr_attr, base_lr, splits,
                    record, folder, start_epoch, log)
