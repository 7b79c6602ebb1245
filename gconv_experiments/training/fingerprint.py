"""The run record (run.json) of a training run and comparing two of them.

A record is computed from the train.py flags without training::

    {"config": every flag in canonical form (defaults filled in, dict literals parsed, the
               model resolved to its class name, file and content hash),
     "data": {flag: {"path", "size", "sha256"}} for --trainfn, --valfn (and --testfn),
     "fingerprint": sha256 of the canonical JSON of the trajectory-relevant config + data hashes,
     "git_commit": the project's commit or "unknown",
     "model_file": name of the model file copied into the run folder}

Two runs may share results (a sweep reuses one, --resume continues one) exactly when
:func:`differences` of their records is empty.
"""
import hashlib
import inspect
import json
import os
import subprocess

import chainer

from gconv_experiments import augmentation
from gconv_experiments.training.checkpoint import RUN_FILE  # noqa: F401  (re-exported)
from gconv_experiments.file_digest import sha256_file  # noqa: F401 (also part of this module's API)
from gconv_experiments.training.config import PACKAGE_ROOT, ConfigError
from gconv_experiments.training.settings import check_args
from gconv_experiments.training.models import resolve_model_file

__all__ = ["TRAJECTORY_IRRELEVANT", "ADDED_SETTINGS", "without_added_defaults", "DATA_FLAGS", "data_file_record", "git_commit", "canonical_json", "build_record", "differences", "read_record", "RUN_FILE", "sha256_file"]


# Settings that never change the weights a run reaches or the numbers it reports on its
# validation file; they may differ between a saved run and its --resume / reuse. (datadir,
# trainfn and valfn are compared through the content hashes of the data files instead;
# model_path through the model file's content hash. The device and the ChainerMN communicator,
# like the process count, change only the order of floating-point sums.)
TRAJECTORY_IRRELEVANT = {"testfn", "quiet", "verbose", "val_freq", "save_freq", "gpu", "resultdir",
                         "datadir", "trainfn", "valfn", "epochs", "resume", "model_path",
                         "communicator"}
DATA_FLAGS = ("trainfn", "valfn", "testfn")
# Settings added after run records existed, each with the value that behaves as the code did
# before it. A record leaves such a setting out of "config" (hence out of the fingerprint) while
# it has that value, so the record of a command line without the new flags is exactly what
# older code wrote; differences() reads a setting missing from a record as that value.
ADDED_SETTINGS = {"train_subset": "first", "subset_seed": None, "steps": None}


def without_added_defaults(config: dict) -> dict:
    """`config` without the ADDED_SETTINGS that have their default value.

    >>> without_added_defaults({"seed": 0, "steps": None, "train_subset": "balanced"})
    {'seed': 0, 'train_subset': 'balanced'}
    """
    return {k: v for k, v in config.items() if not (k in ADDED_SETTINGS and v == ADDED_SETTINGS[k])}


def data_file_record(path: str) -> dict:
    """{"path": absolute path, "size": bytes, "sha256": hex} of a data file."""
    return {"path": os.path.abspath(path), "size": os.path.getsize(path), "sha256": sha256_file(path)}


def git_commit() -> str:
    """The commit of the git checkout holding this package, or "unknown"."""
    try:
        out = subprocess.run(["git", "-C", PACKAGE_ROOT, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else "unknown"


def _bound_kwargs(fn, kwargs):
    """kwargs with every omitted keyword default of fn filled in (kwargs itself if fn's
    signature cannot be read or does not fit)."""
    try:
        bound = inspect.signature(fn).bind(**kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items()
            if inspect.signature(fn).parameters[k].kind is not inspect.Parameter.VAR_KEYWORD}


def _jsonable(value):
    """value with tuples as lists and non-JSON leaves as their repr (for canonical JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    return repr(value)


def canonical_json(obj) -> str:
    """The one JSON text of obj used for hashing: sorted keys, no spaces, strict (no NaN).

    >>> canonical_json({"b": [1, 2], "a": None})
    '{"a":null,"b":[1,2]}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def build_record(args, models_package: "str | None" = None, model_cls: "type | None" = None,
                 data: "dict | None" = None) -> dict:
    """The run record of the parsed, checked arguments `args` (see the module docstring).

    model_cls: the imported model class, used to fill in its constructor defaults (None:
    --net_kwargs as given). data: {flag: record} already computed (None: hash the files named
    by args). Raises ConfigError for bad flags, FileNotFoundError naming the flag of a missing
    data file.
    """
    checked = check_args(args)
    opt_kwargs, net_kwargs, schedule = dict(checked.opt_kwargs), dict(checked.net_kwargs), list(checked.lr_decay_schedule)
    name, model_path = resolve_model_file(args.modelfn, models_package)
    optimizer = getattr(chainer.optimizers, args.opt)
    if args.opt == "Adam" and "lr" in opt_kwargs and "alpha" not in opt_kwargs:
        opt_kwargs = dict(opt_kwargs)
        opt_kwargs["alpha"] = opt_kwargs.pop("lr")
    config = {k: _jsonable(v) for k, v in vars(args).items()}
    config.update(
        modelfn=name, model_path=model_path, model_sha256=sha256_file(model_path),
        opt_kwargs=_jsonable(_bound_kwargs(optimizer, opt_kwargs)),
        net_kwargs=_jsonable(_bound_kwargs(model_cls, net_kwargs) if model_cls else net_kwargs),
        lr_decay_schedule=schedule,
        transformations=list(augmentation.parse_transformations(args.transformations)),
        eval_batchsize=args.eval_batchsize or args.batchsize,
        datadir=os.path.abspath(args.datadir), subset_seed=checked.subset_seed,
    )
    config = without_added_defaults(config)
    if data is None:
        data = {}
        for flag in DATA_FLAGS:
            fn = getattr(args, flag)
            if fn:
                path = os.path.join(args.datadir, fn)
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"--{flag}: data file {path} not found")
                data[flag] = data_file_record(path)
    relevant = {k: v for k, v in config.items() if k not in TRAJECTORY_IRRELEVANT}
    relevant["data"] = {flag: rec["sha256"] for flag, rec in data.items() if flag != "testfn"}
    return {"config": config, "data": data,
            "fingerprint": hashlib.sha256(canonical_json(relevant).encode()).hexdigest(),
            "git_commit": git_commit(), "model_file": os.path.basename(model_path)}


def differences(saved_record: dict, new_record: dict) -> list:
    """Human-readable "--flag: old -> new" for each trajectory-relevant setting in which the
    two records differ; [] when the saved run may be reused or resumed with the new settings.
    A setting of ADDED_SETTINGS missing from a record counts as its default value.

    >>> differences({"config": {"seed": 0}}, {"config": {"seed": 0, "steps": None}})
    []
    >>> differences({"config": {"seed": 0}}, {"config": {"seed": 0, "steps": 40}})
    ['--steps: None -> 40']
    """
    old_c, new_c = saved_record.get("config", {}), new_record.get("config", {})
    out = []
    missing = "(not recorded)"
    for key in sorted(set(old_c) | set(new_c)):
        if key in TRAJECTORY_IRRELEVANT or key == "model_sha256":
            continue
        absent = ADDED_SETTINGS[key] if key in ADDED_SETTINGS else missing
        old, new = old_c.get(key, absent), new_c.get(key, absent)
        if old != new:
            out.append(f"--{key}: {old!r} -> {new!r}")
    if old_c.get("modelfn") == new_c.get("modelfn") and old_c.get("model_sha256") != new_c.get("model_sha256"):
        out.append(f"--modelfn: the model file's content differs ({old_c.get('model_path')} sha256 "
                   f"{str(old_c.get('model_sha256'))[:12]} -> {new_c.get('model_path')} sha256 "
                   f"{str(new_c.get('model_sha256'))[:12]})")
    old_d, new_d = saved_record.get("data", {}), new_record.get("data", {})
    for flag in DATA_FLAGS:
        if flag == "testfn":
            continue
        a, b = old_d.get(flag) or {}, new_d.get(flag) or {}
        if a.get("sha256") != b.get("sha256"):
            out.append(f"--{flag} (with --datadir): {a.get('path')} (sha256 {str(a.get('sha256'))[:12]}) -> "
                       f"{b.get('path')} (sha256 {str(b.get('sha256'))[:12]})")
    return out


def read_record(path: str) -> dict:
    """The run record saved at `path` (a run.json); ConfigError naming the file if unreadable."""
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ValueError("not a JSON object with a 'config' object")
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the run record ({e})") from None
    return record
