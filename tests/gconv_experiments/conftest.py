"""Tiny MNIST-like data (`datadir`: 64 training, 32 test images) and a narrow model for
end-to-end runs of the training code, for every test under tests/gconv_experiments; the
helpers reach the tests through the `tiny` fixture (test modules cannot import each other under
--import-mode=importlib)."""
import json
import os
import types

import h5py
import numpy as np
import pytest

from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training import cli

SMALL = ["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet"]
KW = dict(defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE, prog="train.py")


def make_digits_like(path, n, seed, labels=None, size=28):
    """n images whose class is the row of a bright bar, plus noise (learnable, tiny)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.int32)
    x = (rng.standard_normal((n, 1, size, size)) * 0.2).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 3 + 2 * c:5 + 2 * c, 6:22] += 1.5
    np.savez(path, data=x, labels=y if labels is None else labels)
    return x, y


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    make_digits_like(d / "train_all.npz", 64, 0)
    make_digits_like(d / "test.npz", 32, 1)
    return str(d)


def strict_json(path):
    """Parse a JSON file, refusing NaN / Infinity tokens."""
    def bad(token):
        raise ValueError(f"{path}: non-standard JSON token {token}")
    with open(path) as f:
        text = f.read()
    if path.endswith(".jsonl"):
        return [json.loads(line, parse_constant=bad) for line in text.splitlines() if line.strip()]
    return json.loads(text, parse_constant=bad)


def snapshot_params(resultdir):
    with h5py.File(os.path.join(resultdir, "snapshot.h5"), "r") as f:
        params = {}
        f.visititems(lambda name, obj: params.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/") else None)
        return params, int(f.attrs["epoch"])


def run_cli(argv, capsys):
    """(exit status, stderr, stdout) of train.py's command line on argv."""
    status = cli(argv, **KW)
    captured = capsys.readouterr()
    return status, captured.err, captured.out


def assert_one_line_error(status, err, expected_status=2):
    """A bad-input failure: the exit status and exactly one 'train.py: error: ...' line."""
    assert status == expected_status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), err
    assert "Traceback" not in err


@pytest.fixture(scope="session")
def tiny():
    return types.SimpleNamespace(SMALL=SMALL, KW=KW, make=make_digits_like, strict_json=strict_json,
                                 snapshot=snapshot_params, run=run_cli,
                                 assert_one_line_error=assert_one_line_error)
