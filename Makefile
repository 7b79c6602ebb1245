# Bootstraps a virtualenv from nothing (only Python and make needed) and runs things in it.
# Two tested stacks (versions in constraints.txt, chosen by the interpreter):
#   make test                      Python 3.11 + numpy 1.26, in .venv
#   make PYTHON=python3.12 test    Python 3.12 + numpy 2,    in .venv312
# PYTHON may name an interpreter pyenv has installed but not activated.
PYTHON ?= $(shell command -v python3.11 >/dev/null && echo python3.11 || echo python3)
PY     := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null || \
            PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | paste -sd: -)" \
            pyenv which $(PYTHON) 2>/dev/null)
PYVER  := $(shell $(PY) -c 'import sys; print("%d%d" % sys.version_info[:2])' 2>/dev/null)
VENV   ?= $(if $(filter 311,$(PYVER)),.venv,.venv$(PYVER))
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
comma  := ,
# Extras installed into the venv: dev always; gpu (CuPy + NVRTC) only where nvidia-smi sees a
# GPU. Add others with `make gpu|nvrtc|mpi|export` or EXTRAS=dev,gpu,mpi,export.
HAVE_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
EXTRAS ?= dev$(if $(HAVE_GPU),$(comma)gpu)
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# tests and demos find the venv's own tools first (mpiexec of the mpi extra)
RUN    := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python

# the docs venv adds the extra docs to EXTRAS
DOCS_EXTRAS := $(if $(filter docs,$(subst $(comma), ,$(EXTRAS))),$(EXTRAS),$(EXTRAS)$(comma)docs)
SPHINX_OPTS ?=

.PHONY: venv demo test tour docs gpu nvrtc mpi export clean-venv

# chainer 7.8.1 only ships an sdist whose setup.py imports pkg_resources, so it is built
# with the pinned setuptools<70 already in the venv and without build isolation.
$(STAMP): setup.py constraints.txt
	@test -n "$(PY)" || { echo "no Python interpreter found for PYTHON=$(PYTHON)" >&2; exit 1; }
	$(PY) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) --no-build-isolation chainer
	$(PIP) --no-build-isolation -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed*
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(RUN) -m gconv_experiments.MNIST_ROT.demo

test: venv
	$(RUN) -m pytest -q -n 2 tests

tour: venv
	$(RUN) -m groupy.tour --out groupy_tour.png

# The documentation site into docs/_build/html (Sphinx, MyST, notebooks executed at build time).
# Any warning, a failing notebook cell or a failing doctest fails it (-W --keep-going: every
# problem is listed first). Docstring markup warnings of the packages are listed in
# docs/_build/docstring-warnings.txt instead (docs/_ext/groupy_docs.py).
docs:
	rm -rf docs/_build
	$(MAKE) EXTRAS="$(DOCS_EXTRAS)" venv
	cd docs && PYTHONPATH="$(CURDIR)" PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/python -m sphinx \
	    -W --keep-going -b html -d _build/doctrees $(SPHINX_OPTS) . _build/html
	cd docs && PYTHONPATH="$(CURDIR)" PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/python -m sphinx \
	    -W --keep-going -q -b doctest -d _build/doctrees $(SPHINX_OPTS) . _build/doctest
	@echo "documentation: $(CURDIR)/docs/_build/html/index.html"

# add one extra to the venv (gpu: CuPy for a GPU, nvrtc: CuPy + NVRTC to compile the kernels
# without one, mpi: mpi4py + MPICH, export: onnx + onnxruntime)
gpu nvrtc mpi export: venv
	$(PIP) --no-build-isolation -e ".[$@]"

clean-venv:
	rm -rf $(VENV)
