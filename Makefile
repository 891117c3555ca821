# `make test` and `make demo` work from a fresh clone: they build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU wheel first: a bare `torch` requirement would pull CUDA packages.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test,plot]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# Peers the report compares against; the package never imports them.
PEERS_STAMP := $(VENV)/.benchmark-peers
$(PEERS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet openTSNE pyod lightning
	# encdr declares Python >= 3.12 but is pure Python and runs on 3.11; its
	# dependencies (lightning, torch) come from the line above and the venv.
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python encdr
	touch $@

demo: $(PEERS_STAMP)
	$(PY) -m benchmarks

docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -W -b html docs docs/_build/html

clean:
	rm -rf $(VENV) benchmark-report build *.egg-info docs/_build docs/generated
