# nablanet: every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test unit lint types docs wheel-check fuzz bench bench-quick fashion-mnist chromium mutate clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "nablanet needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# What pip does for an installed wheel: bytecode written once, not compiled at every
	@# start (some environments set PYTHONDONTWRITEBYTECODE); and numba's kernels compiled
	@# into its cache, so that the first large fit loads them instead of compiling them.
	$(PY) -m compileall -q nablanet
	$(PY) -c 'from nablanet.kernels import warm_cache; warm_cache()'
	@touch $(STAMP)

# torch's CPU build, for the tests of to_torch and the comparisons against torch.optim:
# installed from the wheel file only (pip would take the multi-gigabyte CUDA build of
# `torch` from the index), with the packages it pulls in pinned in requirements-torch.txt.
# Where the wheel is not on disk, or not for this Python, those tests skip and say why.
TORCH_WHEEL ?= /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
TORCH_STAMP := $(VENV)/.torch

$(TORCH_STAMP): $(STAMP) requirements-torch.txt
	@if [ -f "$(TORCH_WHEEL)" ] && $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
		$(PY) -m pip install -q --disable-pip-version-check -r requirements-torch.txt "$(TORCH_WHEEL)" && \
		$(PY) -c 'import torch; assert torch.__version__ == "2.13.0+cpu", torch.__version__' && \
		touch $(TORCH_STAMP); \
	else \
		echo "torch: no CPU wheel for this Python at $(TORCH_WHEEL); its tests will be skipped"; \
	fi

## demo: gradient check, train, evaluate and report on scikit-learn's bundled digits
demo: $(STAMP)
	$(VENV)/bin/nablanet demo --report report

## test: the whole suite (unit, gradient checks, estimator checks, CLI, notebooks), lint, types,
## docs, and the wheel check
test: unit lint types docs wheel-check

# Two test workers already use both cores: one BLAS thread each avoids oversubscription,
# under which OpenBLAS's spinning threads make small matrix products many times slower.
unit: $(STAMP) $(TORCH_STAMP) chromium
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 -p no:cacheprovider

## fuzz: the hypothesis fuzz targets of tests/fuzz for FUZZ_MINUTES minutes in all (default 10),
## split evenly across the targets; prints the cases each target ran (make fuzz FUZZ_MINUTES=3)
FUZZ_MINUTES ?= 10
fuzz: $(STAMP)
	NABLANET_FUZZ_MINUTES=$(FUZZ_MINUTES) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
		$(PY) -m pytest -q -p no:cacheprovider tests/fuzz --hypothesis-show-statistics

## mutate: mutation testing of the core against its fast tests (mutmut; minutes per module,
## not part of `make test`); prints the share of mutants killed per module
## (make mutate MUTATE="activations losses"; groups in tests/mutation/mutate.py)
MUTATE ?=
mutate: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-mutate.txt
	$(PY) tests/mutation/mutate.py $(MUTATE)

## wheel-check: build the wheel (python -m build, offline), install it into a fresh virtual
## environment (not editable) and run the CLI and a smoke test against it, first with no extra
## importable (the core of `pip install nablanet`), then with them (tests/wheel_check/check.py)
wheel-check: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) tests/wheel_check/check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check nablanet tests benchmarks docs

types: $(STAMP)
	$(VENV)/bin/mypy

## fashion-mnist: Debian's package of the data set (benchmarks and demos only)
fashion-mnist:
	@test -d /usr/share/datasets/fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }

## chromium: Debian's headless browser, for the explorer's browser tests; `make test` installs
## it where it can (as root, with apt-get); elsewhere tests/test_explorer.py skips them, saying so
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -q && apt-get install -y -q chromium; } || \
		echo "chromium: not installed (needs root and apt-get); the browser tests will be skipped"

## docs: the documentation site (docs/_build/html, opens offline); warnings are errors
docs: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html
	$(PY) docs/check_offline.py docs/_build/html
	$(PY) docs/check_pages.py docs/_build/html

bench: $(STAMP) fashion-mnist
	$(PY) -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py

bench-quick: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info report docs/_build docs/_autosummary docs/examples
