"""Sphinx configuration of the groupy documentation (`make docs`)."""
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
# the checkout being documented comes first, before any other installed copy
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(DOCS, "_ext"))
# notebooks run in kernels started from this process: they import this checkout too
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
# `!python ...` in a notebook cell means this interpreter (the venv's), as in an activated venv
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

project = "groupy"
author = "the groupy developers"
copyright = "the groupy developers"
release = version = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "groupy_docs",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}

# MyST
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# executed notebooks (MyST-markdown files with a kernelspec): run at every build, a failing
# cell fails the build
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# API reference
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
# (a package documents its own docstring; the names it re-exports are documented in their modules)
autodoc_member_order = "bysource"
# chainer's docstrings of overridden methods are chainer's, not ours
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
autodoc_mock_imports = ["cupy"]
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# doctest blocks of these pages only (the packages' own >>> examples run in tests/test_doctests.py)
doctest_test_doctest_blocks = ""

# every internal reference must resolve; outside libraries are not linked
nitpicky = True

# HTML
html_theme = "furo"
html_title = "groupy"
html_static_path = []
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
