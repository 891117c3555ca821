# `make test` and `make demo` work from a fresh clone: they build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-floors demo docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU wheel first: a bare `torch` requirement would pull CUDA packages.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test,plot]"
	touch $(STAMP)

install: $(STAMP)

# The docs build runs every example of the gallery, so `make test` does too.
# scikit-learn's array API dispatch needs SciPy's, read from the environment.
test: $(STAMP)
	SCIPY_ARRAY_API=1 $(PY) -m pytest
	$(MAKE) docs

# The declared floors of the dependencies (.ci/floors.py reads them from
# pyproject.toml), in a venv of their own, on the tests that exercise what
# each is used for: skorch's net, pickling and callbacks, scikit-learn's
# validation and t-SNE helper, scipy, tqdm's bar.
FLOORS := $(VENV)/floors
FLOORS_STAMP := $(FLOORS)/.installed
FLOORS_TESTS := tests/test_net.py tests/test_state.py tests/test_dense.py tests/test_linear.py \
	tests/test_feedback.py tests/test_tsne.py tests/test_classifier.py \
	tests/test_variational.py tests/test_sparse.py
$(FLOORS_STAMP): pyproject.toml .ci/floors.py
	$(PYTHON) -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet torch==2.13.0
	$(FLOORS)/bin/python .ci/floors.py > $(FLOORS)/floors.txt
	$(FLOORS)/bin/python -m pip install --quiet --constraint $(FLOORS)/floors.txt -e . pytest
	touch $@

test-floors: $(FLOORS_STAMP)
	$(FLOORS)/bin/python -m pip list 2>/dev/null | grep -iE '^(numpy|scikit-learn|scipy|skorch|torch|tqdm) '
	$(FLOORS)/bin/python -m pytest -q $(FLOORS_TESTS)

# Peers the report compares against; the package never imports them.
PEERS_STAMP := $(VENV)/.benchmark-peers
$(PEERS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet openTSNE pyod lightning umap-learn
	# encdr declares Python >= 3.12 but is pure Python and runs on 3.11; its
	# dependencies (lightning, torch) come from the line above and the venv.
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python encdr
	touch $@

demo: $(PEERS_STAMP)
	$(PY) -m benchmarks

docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -W -b html docs docs/_build/html
	@# Every example's page must show the figures its script drew.
	@$(PY) -c 'import pathlib, sys; \
	built = pathlib.Path("docs/_build/html/auto_examples"); \
	pages = {p.name: built / f"{p.stem}.html" for p in pathlib.Path("docs/examples").glob("plot_*.py")}; \
	missing = sorted(name for name, page in pages.items() if not page.is_file() \
	                 or f"sphx_glr_{page.stem}_001.png" not in page.read_text()); \
	sys.exit(f"gallery examples without a figure in the built pages: {missing}" if missing else 0)'

clean:
	rm -rf $(VENV) benchmark-report build *.egg-info docs/_build docs/generated \
		docs/auto_examples docs/sg_execution_times.rst
