"""Everything a run checks and writes before its first epoch: the result folder, the data
splits (read, checked against each other and the model, normalised), the model's fit to its
--net_kwargs, and the run record files (args.json, run.json, a copy of the model file)."""
import hashlib
import os
import shutil

import chainer
import numpy as np

from gconv_experiments.atomic_file import atomic_path, remove_temporaries, write_text
from gconv_experiments.training.checkpoint import ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE, dumps
from gconv_experiments.training.config import ConfigError
from gconv_experiments.training.data import check_data, check_labels, normalization_constants, normalize
from gconv_experiments.training.fingerprint import RUN_FILE, data_file_record, read_record

SPLITS = (("trainfn", "train_size"), ("valfn", "val_size"), ("testfn", "val_size"))


def check_resultdir(out, resume):
    """--resultdir must be a folder (or not exist yet); without --resume it must not hold a
    run. Leftover temporary files of writes cut short by a kill are removed."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--resultdir {out} is an existing file, not a folder; choose another --resultdir")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(f"--resultdir {out}: {parent} is a file, not a folder")
    files = (SNAPSHOT_FILE, SUMMARY_FILE, LOG_FILE, ARGS_FILE, RUN_FILE)
    if not resume and any(os.path.exists(os.path.join(out, f)) for f in files):
        raise ConfigError(f"--resultdir {out} already holds a run; pass --resume to continue it "
                          f"or choose another --resultdir")


def remove_leftovers(out):
    """Remove temporary files left in the run folder by writes a kill cut short."""
    for name in (SNAPSHOT_FILE, SUMMARY_FILE, LOG_FILE, ARGS_FILE, RUN_FILE):
        remove_temporaries(os.path.join(out, name))


def load_splits(args, load_data):
    """{flag: (x float32, y int32)} for --trainfn, --valfn and (when given) --testfn, truncated
    to --train_size / --val_size (which must not exceed the file). What `load_data` returns is
    checked like an .npz file (finite pixels, labels as returned). Errors name the flag."""
    splits = {}
    for flag, size_flag in SPLITS:
        fn = getattr(args, flag)
        if not fn:
            continue
        path = os.path.join(args.datadir, fn)
        try:
            x, y = load_data(path)
            x, y = check_data(path, np.asarray(x)), check_labels(path, np.asarray(y))  # whatever load_data is
            if len(x) != len(y):
                raise ConfigError(f"{path}: {len(x)} images but {len(y)} labels")
        except FileNotFoundError as e:
            raise FileNotFoundError(f"--{flag} (in --datadir {args.datadir}): {e}") from None
        except ConfigError as e:
            raise ConfigError(f"--{flag}: {e}") from None
        size = getattr(args, size_flag)
        if size and size > len(x):
            raise ConfigError(f"--{size_flag} {size} exceeds the {len(x)} examples of --{flag} {path}")
        splits[flag] = (x[:size], y[:size]) if size else (x, y)
    return splits


def normalize_splits(splits, mode):
    """Apply --normalization: constants from the training split, the same ones to every split.
    Returns (new splits, (shift, scale))."""
    shift, scale = normalization_constants(splits["trainfn"][0], mode)
    return {flag: (normalize(x, shift, scale), y) for flag, (x, y) in splits.items()}, (shift, scale)


def probe_model(model, splits, args, net_kwargs):
    """Check the data against the model before training: every split's images have the training
    images' shape, the model maps them to class scores, every label is < the number of classes,
    and one training-mode forward pass (on a copy, so no state changes) works with --net_kwargs."""
    train_x = splits["trainfn"][0]
    name = type(model).__name__
    for flag, (x, _) in splits.items():
        if x.shape[1:] != train_x.shape[1:]:
            raise ConfigError(f"--{flag} {os.path.join(args.datadir, getattr(args, flag))}: images have shape "
                              f"{x.shape[1:]} but --trainfn images {train_x.shape[1:]}")
    try:
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
            scores = model.logits(train_x[:2])
    except Exception as e:
        raise ConfigError(f"model {name} cannot process images of shape {train_x.shape[1:]} from --trainfn "
                          f"{os.path.join(args.datadir, args.trainfn)}: {type(e).__name__}: {e}") from None
    n_classes = scores.shape[1]
    for flag, (_, y) in splits.items():
        check_labels(f"--{flag} {os.path.join(args.datadir, getattr(args, flag))} ({name} has {n_classes} classes)",
                     y, n_classes)
    try:
        with chainer.using_config("train", True), chainer.using_config("enable_backprop", False):
            model.copy(mode="copy").logits(train_x[:2])
    except Exception as e:
        raise ConfigError(f"--net_kwargs {net_kwargs!r}: {name} fails in a training-mode forward pass: "
                          f"{type(e).__name__}: {e}") from None


def data_records(args, splits):
    """{flag: {"path", "size", "sha256"}} of the data files read; a split read from elsewhere by
    a load_data hook (no file at the path) is hashed by its arrays (size None)."""
    records = {}
    for flag, (x, y) in splits.items():
        path = os.path.join(args.datadir, getattr(args, flag))
        if os.path.isfile(path):
            records[flag] = data_file_record(path)
        else:
            h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
            h.update(np.ascontiguousarray(y).tobytes())
            records[flag] = {"path": os.path.abspath(path), "size": None, "sha256": h.hexdigest()}
    return records


def saved_record(out):
    """The run record of the run in folder `out`, or None if it has none (an older run)."""
    path = os.path.join(out, RUN_FILE)
    return read_record(path) if os.path.isfile(path) else None


def write_run_files(out, args, record):
    """run.json (the record, plus the flags as given under "args", which --resume reads),
    args.json (a copy of those flags) and a copy of the model file, each atomically."""
    saved_args = {k: v for k, v in vars(args).items() if k not in ("resume", "quiet", "verbose")}
    write_text(os.path.join(out, RUN_FILE), dumps(dict(record, args=saved_args), indent=2) + "\n")
    write_text(os.path.join(out, ARGS_FILE), dumps(saved_args, indent=2) + "\n")
    target = os.path.join(out, record["model_file"])
    if os.path.abspath(target) != record["config"]["model_path"]:
        with atomic_path(target) as tmp:
            shutil.copyfile(record["config"]["model_path"], tmp)
