"""Shared pytest configuration: the `gpu` marker skips cleanly without a usable CUDA device,
and `shared_data_dir` points at the read-only data folder beside the repository."""
import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _gpu_available():
    try:
        import cupy
        return bool(cupy.is_available())
    except Exception:  # no cupy, no driver, or a driver too old for the runtime
        return False


def pytest_collection_modifyitems(config, items):
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="no usable CUDA device (cupy.is_available() is false)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data_dir():
    """`<repo>/../shared/data`, or skip the test when that folder is not there."""
    path = pathlib.Path(os.environ.get("GCONV_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not present")
    return path
