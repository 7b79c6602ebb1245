"""groupy._compat: chainer 7.8.1 imports and works on this stack whichever of chainer or groupy
comes first, the start-up hook (groupy-chainer-compat.pth) is what makes a chainer-first import
work where something is missing, and nothing is patched where nothing is missing.

What is missing is found independently of groupy: a fresh interpreter with the hook turned off
(GROUPY_CHAINER_COMPAT=0) tries numpy.distutils.system_info and numpy.sctypes itself.
"""
import json
import os
import pathlib
import site
import subprocess
import sys

import numpy as np
import pytest

PTH = "groupy-chainer-compat.pth"


def run(code, hook=True, flags=()):
    env = dict(os.environ)
    env["GROUPY_CHAINER_COMPAT"] = "1" if hook else "0"
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)


PROBE = """
import json, warnings
missing = []
try:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        import numpy.distutils.system_info
except ImportError:
    missing.append('patch_numpy_distutils')
import numpy
if not hasattr(numpy, 'sctypes'):
    missing.append('patch_numpy_sctypes')
print(json.dumps(missing))
"""


@pytest.fixture(scope="module")
def missing():
    """Names of the patches this stack needs, probed in a fresh interpreter without the hook."""
    proc = run(PROBE, hook=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_what_is_missing_matches_the_stack(missing):
    """numpy 2 lost sctypes; Python >= 3.12 numpy lost numpy.distutils."""
    numpy2 = int(np.__version__.split(".")[0]) >= 2
    expected = (["patch_numpy_distutils"] if sys.version_info >= (3, 12) else []) + \
               (["patch_numpy_sctypes"] if numpy2 else [])
    assert missing == expected


def test_pth_is_installed_and_imports_nothing_heavy():
    dirs = site.getsitepackages() + [site.getusersitepackages()]
    found = [d for d in dirs if (pathlib.Path(d) / PTH).is_file()]
    assert found, f"{PTH} not in any of {dirs}"
    proc = run("import sys; print(sorted(m for m in ('numpy', 'chainer', 'cupy') "
               "if m in sys.modules))")
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_import_chainer_first_is_silent_and_patches_exactly_what_is_missing(missing):
    code = ("import chainer, groupy._compat.patches as p, json; "
            "print(json.dumps(list(p.applied())))")
    proc = run(code, flags=("-W", "error"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout) == missing


def test_import_chainer_prints_nothing():
    proc = run("import chainer")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_without_the_hook_chainer_first_fails_exactly_where_something_is_missing(missing):
    proc = run("import chainer", hook=False)
    assert (proc.returncode == 0) == (not missing), proc.stderr


def test_groupy_first_works_without_the_startup_hook(missing):
    code = ("import groupy, chainer, groupy._compat.patches as p, json; "
            "print(json.dumps(list(p.applied())))")
    proc = run(code, hook=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == missing


def test_restored_sctypes_hold_the_sized_scalar_types():
    import chainer  # noqa: F401  (the hook has run by now, in this process too)
    sizes = {kind: [np.dtype(t).itemsize for t in np.sctypes[kind]]
             for kind in ("int", "uint", "float", "complex")}
    assert sizes["int"] == sizes["uint"] == [1, 2, 4, 8]
    assert sizes["float"][:3] == [2, 4, 8] and sizes["complex"][:2] == [8, 16]
    assert all(np.issubdtype(t, np.signedinteger) for t in np.sctypes["int"])
    assert all(np.issubdtype(t, np.unsignedinteger) for t in np.sctypes["uint"])
    assert all(np.issubdtype(t, np.floating) for t in np.sctypes["float"])


def test_as_strided_the_chainer_function_that_reads_sctypes():
    """chainer.functions.as_strided against the elements picked by hand, and its gradient (its
    backward checks the dtype against numpy.sctypes['float'])."""
    import chainer
    import chainer.functions as F
    from chainer import gradient_check
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    shape, strides = (2, 3), (1, 2)  # in elements: rows 0, 2, 4 and 1, 3, 5 of the flat array
    expected = np.array([[0, 2, 4], [1, 3, 5]], dtype=np.float64)
    np.testing.assert_array_equal(F.as_strided(x, shape, strides).array, expected)
    gradient_check.check_backward(lambda v: F.as_strided(v, shape, strides), x,
                                  np.ones(shape), dtype=np.float64)
    assert chainer.__version__ == "7.8.1"


def test_distutils_stub_only_where_numpy_distutils_is_gone(missing):
    import numpy.distutils.system_info as system_info
    stubbed = "Stub by groupy._compat" in (system_info.__doc__ or "")
    assert stubbed == ("patch_numpy_distutils" in missing)
    if stubbed:
        assert system_info.get_info("blas_opt") == {}


def test_apply_is_idempotent():
    from groupy import _compat
    import chainer  # noqa: F401
    assert _compat.apply() == ()
    before = dict(np.sctypes)
    assert _compat.apply() == () and np.sctypes == before
