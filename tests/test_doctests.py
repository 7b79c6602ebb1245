"""Every ``>>>`` example in the docstrings of groupy and gconv_experiments runs and shows what it
prints (doctest, with ELLIPSIS and NORMALIZE_WHITESPACE)."""
import doctest
import importlib
import pkgutil

import pytest

import gconv_experiments
import groupy

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names():
    for package in (groupy, gconv_experiments):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                yield info.name


@pytest.mark.parametrize("name", sorted(_module_names()))
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an optional extra (onnx, mpi4py, cupy) not installed
        pytest.skip(f"{name}: {e}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
