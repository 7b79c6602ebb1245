"""Importing groupy's subpackages is silent, even with every warning turned into an error
(groupy/__init__ filters the known third-party import-time warnings of chainer and CuPy)."""
import subprocess
import sys


def test_import_raises_no_warnings():
    code = ("import groupy.garray, groupy.gfunc, groupy.gconv.make_gconv_indices, "
            "groupy.gconv.chainer_gconv; print('imported')")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported\n" and proc.stderr == ""
