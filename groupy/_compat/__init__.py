"""Compatibility of chainer 7.8.1 with today's numpy (1.26 and 2.x) and Python (3.11-3.13).

chainer 7.8.1 (2020) uses two things that are gone on today's stacks:

* ``numpy.distutils`` (imported by ``chainer._environment_check``): removed from numpy for
  Python >= 3.12;
* ``numpy.sctypes`` (read by ``chainer.functions.array.as_strided`` at import time): removed
  in numpy 2.0.

:func:`apply` restores exactly what is missing (see :mod:`groupy._compat.patches`) and does
nothing where nothing is missing (Python 3.11 + numpy 1.26). It must run before chainer is
imported, whichever of chainer or groupy a program imports first, so two entry points call it:

* ``import groupy`` installs :class:`ChainerImportHook`;
* the file ``groupy-chainer-compat.pth``, installed into site-packages with the package (the
  same mechanism as setuptools' ``distutils-precedence.pth``), imports ``groupy`` at
  interpreter start-up, which installs the hook. That imports only ``groupy/__init__.py`` and
  this module (no numpy, no chainer); the patches run once, when ``chainer`` is first imported.
  ``GROUPY_CHAINER_COMPAT=0`` in the environment turns the start-up import off.
"""
import sys


def apply():
    """Make chainer 7.8.1 importable on this numpy/Python; returns the names of the patches
    applied by this call (an empty tuple when nothing was missing or they already ran)."""
    from groupy._compat import patches
    return patches.apply_all()


class ChainerImportHook:
    """A ``sys.meta_path`` entry that runs :func:`apply` just before ``chainer`` (or
    ``onnx_chainer`` / ``chainermn``, which import it) is first imported, then removes itself.
    It never finds or loads a module itself (``find_spec`` returns None)."""

    TRIGGERS = ("chainer", "chainermn", "onnx_chainer")

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.TRIGGERS:
            uninstall_import_hook()
            apply()
        return None


def install_import_hook():
    """Put the hook first on ``sys.meta_path`` (once); run the patches at once instead if
    chainer is already being imported or was imported."""
    if any(isinstance(finder, ChainerImportHook) for finder in sys.meta_path):
        return
    if any(name in sys.modules for name in ChainerImportHook.TRIGGERS):
        apply()
        return
    sys.meta_path.insert(0, ChainerImportHook())


def uninstall_import_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, ChainerImportHook)]

