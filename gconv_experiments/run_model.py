"""The model class of a run folder. A run folder's copy of its model file (``<Model>.py``,
written by training) is code: it is imported only when its sha256 is the ``model_sha256`` its
run.json records, and from the very bytes that were checked. A folder without a copy (published
runs keep none) gets the package's model of that name, with a warning when that file is not the
one the run trained with.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "Net.py"), "w") as f:
...     _ = f.write("import chainer\\nclass Net(chainer.Chain):\\n    pass\\n")
>>> verified_model_class(os.path.join(folder, "Net.py"), "0" * 64, "run.json")
Traceback (most recent call last):
...
gconv_experiments.training.config.ConfigError: ...Net.py: its sha256 ... is not the model_sha256 000...000 recorded in run.json; ...
"""
import hashlib
import os
import sys
import types

import chainer

from gconv_experiments.file_digest import sha256_file
from gconv_experiments.training import RUN_FILE, ConfigError, load_model_class, resolve_model_file

__all__ = ["verified_model_class", "run_model_class"]


def verified_model_class(path: str, expected_sha256: "str | None", record_path: str) -> type:
    """The chainer.Link class named as the file `path` (without .py), imported from the file's
    bytes only when their sha256 is `expected_sha256` (the run record `record_path`'s); else
    ConfigError naming the file and both hashes, before any of it runs."""
    with open(path, "rb") as f:
        source = f.read()
    actual = hashlib.sha256(source).hexdigest()
    if not isinstance(expected_sha256, str) or actual != expected_sha256:
        raise ConfigError(f"{path}: its sha256 {actual} is not the model_sha256 {expected_sha256} recorded in "
                          f"{record_path}; refusing to import it (a run folder's model file is code; restore "
                          f"the file the run trained with, or remove it to use the package's model)")
    name = os.path.splitext(os.path.basename(path))[0]
    module = types.ModuleType(f"gconv_run_model_{name}")
    module.__file__ = path
    try:
        exec(compile(source, path, "exec"), module.__dict__)  # the checked bytes, not the file again
    except Exception as e:
        raise ConfigError(f"{path} fails to import: {type(e).__name__}: {e}") from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, chainer.Link)):
        raise ConfigError(f"{path} must define a chainer.Chain class named {name!r}")
    return cls


def run_model_class(folder: str, record: dict, models_package: str) -> type:
    """The model class of the run folder `folder` whose run record (run.json) is `record`: the
    folder's copy of the model file, verified by :func:`verified_model_class`, else the model
    of `models_package` named by the record's --modelfn."""
    record_path = os.path.join(folder, RUN_FILE)
    config = record["config"]
    name = record.get("model_file")
    if name is not None and (not isinstance(name, str) or os.path.basename(name) != name
                             or not name.endswith(".py")):
        raise ConfigError(f"{record_path}: 'model_file' must be a file name <Model>.py, got {name!r}")
    if name and os.path.isfile(os.path.join(folder, name)):
        return verified_model_class(os.path.join(folder, name), config.get("model_sha256"), record_path)
    _, path = resolve_model_file(config["modelfn"], models_package)
    expected = config.get("model_sha256")
    if expected and sha256_file(path) != expected:
        print(f"warning: {path} differs from the model file this run trained with (sha256 "
              f"{expected[:12]}...); its weights are loaded into today's version of the model",
              file=sys.stderr)
    return load_model_class(path, models_package)
