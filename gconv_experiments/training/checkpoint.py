"""Files of a run folder: snapshots (Chainer HDF5, atomic), the epoch log, and resuming a run
from its saved arguments."""
import io
import json
import os

import h5py
import numpy as np
from chainer import serializers

from gconv_experiments.atomic_file import atomic_path
from gconv_experiments.training.config import ConfigError

__all__ = ["ARGS_FILE", "LOG_FILE", "SNAPSHOT_FILE", "SUMMARY_FILE", "RUN_FILE", "SNAPSHOT_LAYOUT", "save_snapshot", "snapshot_bytes", "write_bytes", "load_snapshot", "load_weights", "read_log", "dumps"]


ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE = "args.json", "log.jsonl", "snapshot.h5", "summary.json"
RUN_FILE = "run.json"  # the run record (training.fingerprint)
SNAPSHOT_LAYOUT = "model at the root, optimizer in optimizer/"


def _model_group(f):
    """The HDF5 group holding the model: the root (this layout), or 'model/' in snapshots
    written before the model moved to the root."""
    if "layout" not in f.attrs and isinstance(f.get("model"), h5py.Group):
        return f["model"]
    return f


def snapshot_bytes(model, optimizer, epoch: int) -> bytes:
    """The snapshot file of (model, optimizer, epoch) as bytes (see :func:`save_snapshot`),
    serialised in memory: HDF5 never writes to the disk itself, so a disk that is full or a
    file-size limit surfaces as one OSError of :func:`write_bytes` (HDF5's own write errors end
    in a cascade of ignored exceptions, or a crash, and leave its file behind)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        serializers.HDF5Serializer(f).save(model)
        serializers.HDF5Serializer(f.create_group("optimizer")).save(optimizer)
        f.attrs["epoch"] = epoch
        f.attrs["layout"] = SNAPSHOT_LAYOUT
    return buffer.getvalue()


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` atomically with `data` (atomic_file.atomic_path); an OSError (e.g. ENOSPC)
    leaves `path` as it was and no temporary file."""
    with atomic_path(path) as tmp:
        _write_all(tmp, data)


def _write_all(path, data):
    with open(path, "wb", buffering=0) as f:
        view = memoryview(data)
        while view:
            view = view[f.write(view):]


def save_snapshot(path: str, model, optimizer, epoch: int) -> None:
    """Serialise model and optimizer (Chainer HDF5) plus the epoch into `path` atomically.

    The model sits at the file's root, so ``chainer.serializers.load_hdf5(path, model)`` reads
    it as any Chainer model file; the optimizer is in the group 'optimizer/', the epoch in the
    root attribute 'epoch'. Serialised in memory (:func:`snapshot_bytes`), then written through
    atomic_file.atomic_path (temp file, fsync, rename); an OSError leaves `path` as it was.
    """
    with atomic_path(path) as tmp:
        _write_all(tmp, snapshot_bytes(model, optimizer, epoch))


def load_snapshot(path: str, model, optimizer) -> int:
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


def load_weights(path: str, model):
    """Copy the weights and BN statistics of snapshot `path` into `model` (built with the run's
    --net_kwargs); returns model."""
    try:
        with h5py.File(path, "r") as f:
            serializers.HDF5Deserializer(_model_group(f)).load(model)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"{path}: cannot load model weights ({type(e).__name__}: {e})") from None
    return model


def read_log(path: str, drop_partial_last: bool = False) -> list:
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


def dumps(obj, **kwargs) -> str:
    """Strict JSON text of obj (numpy scalars as numbers; NaN or Inf raise ValueError rather
    than being written as the invalid tokens NaN/Infinity).

    >>> dumps({"error": np.float32(0.25), "epoch": 3})
    '{"error": 0.25, "epoch": 3}'
    """
    return json.dumps(obj, allow_nan=False, default=_json_default, **kwargs)


def _resolve_resume(args, explicit):
    """Fill the flags not given on the command line from the run being resumed: the "args" of
    its run.json (args.json is a readable copy). The comparison of the settings given against
    the run's record is left to the caller. A run folder without run.json (written before run
    records existed) cannot be checked and is refused."""
    out = args.resultdir
    record_path = os.path.join(out, RUN_FILE)
    if not os.path.isdir(out):
        raise ConfigError(f"--resume: --resultdir {out} is not an existing run folder; nothing to resume")
    if not os.path.isfile(record_path):
        if os.path.isfile(os.path.join(out, ARGS_FILE)):
            raise ConfigError(f"--resume: {out} has no {RUN_FILE} (it was made by an older version), so its "
                              f"settings cannot be checked; start a new run in another --resultdir")
        raise ConfigError(f"--resume: {out} holds no run ({RUN_FILE} is missing); start it without --resume")
    try:
        with open(record_path) as f:
            saved = json.load(f)["args"]
        if not isinstance(saved, dict):
            raise ValueError("'args' is not a JSON object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--resume: cannot read the run's flags from {record_path} ({type(e).__name__}: {e}); "
                          f"expected the run record written by the run") from None
    for key, value in saved.items():
        if hasattr(args, key) and key not in explicit and key not in ("resume", "quiet", "verbose"):
            setattr(args, key, value)
