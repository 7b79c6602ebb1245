# Bootstraps a local virtualenv from nothing (only Python 3.11 and make needed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip install -q -c constraints.txt

.PHONY: venv demo test tour clean-venv

# chainer 7.8.1 only ships an sdist whose setup.py imports pkg_resources, so it is built
# with the pinned setuptools<70 already in the venv and without build isolation.
$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) --no-build-isolation chainer
	$(PIP) --no-build-isolation -e ".[dev,gpu]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/python -m gconv_experiments.MNIST_ROT.demo

test: venv
	$(BIN)/python -m pytest -q -n 2 tests

tour: venv
	$(BIN)/python -m groupy.tour --out groupy_tour.png

clean-venv:
	rm -rf $(VENV)
