"""The comparison code of benchmarks/gpu/check.py (used by benchmarks/gpu_check.sh on a device),
exercised without a GPU: NumPy stands in for CuPy, and a deliberately wrong "device" is caught."""
import importlib.util
import pathlib

import numpy as np
import pytest

CHECK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "check.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("gpu_check_module", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_difference_by_hand(check):
    assert check.relative_difference(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 0.5
    with pytest.raises(AssertionError, match="shapes differ"):
        check.relative_difference(np.zeros(2), np.zeros(3))


def test_dry_run_compares_every_case_and_finds_no_difference(check):
    result = check.run_compare(type("Args", (), {"dry_run": True})())["compare"]
    cases = {(r["what"], r["dtype"]) for r in result["rows"]}
    expected = {(what, dtype) for dtype in ("float16", "float32", "float64")
                for what in ["TransformGFilter " + g for g in ("Z2->p4", "p4->p4", "Z2->p4m", "p4m->p4m")]
                + ["P4ConvZ2", "P4ConvP4", "P4MConvZ2", "P4MConvP4M"]}
    assert cases == expected
    assert result["ok"] and set(result["max_rel_diff_per_dtype"].values()) == {0.0}
    links = [r for r in result["rows"] if not r["what"].startswith("TransformGFilter")]
    assert all(set(r["rel_diff"]) == {"y", "gx", "gW", "gb"} for r in links)


class ScalingDevice:
    """A wrong "GPU": sends every array scaled by (1 + eps)."""

    def __init__(self, eps):
        self.eps = eps

    def send(self, a):
        return (a * (1 + self.eps)).astype(a.dtype)


def test_a_wrong_device_is_caught(check):
    rows = {r["dtype"]: r for r in check.compare_transforms(ScalingDevice(1e-3))}
    # the transform is a gather: y scales by 1 + eps; its gradient (the adjoint applied to the
    # same gy) does not depend on w at all
    assert rows["float64"]["rel_diff"]["y"] == pytest.approx(1e-3, rel=1e-6)
    assert rows["float64"]["rel_diff"]["gW"] == 0.0
    assert not rows["float32"]["ok"] and not rows["float64"]["ok"]
    assert rows["float16"]["ok"]  # 1e-3 is inside float16's tolerance (2e-2)


def test_a_failing_case_is_reported_not_raised(check):
    def broken():
        raise RuntimeError("CUDA_ERROR_LAUNCH_FAILED")

    row = check._guarded_row("P4ConvZ2", np.float32, ("y",), broken)
    assert row["ok"] is False and "CUDA_ERROR_LAUNCH_FAILED" in row["error"]
