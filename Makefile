# `make demo` and `make test` work on a fresh machine: each creates .venv and installs (idempotently).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# MediaPipe lives in its own environment (absl-py conflict with tensorflow-model-optimization, constraints-mediapipe.txt);
# tests/test_export_mediapipe.py runs tests/mediapipe_runner.py with its Python.
MP_VENV  ?= .venv-mediapipe
MP_STAMP := $(MP_VENV)/.installed-stamp
SHARED ?= ../shared
DC_NET := $(SHARED)/fixtures/squeezenet/compressed_SqueezeNet.net
# Keep TF quiet and deterministic-ish on the 2-core CI box.
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

FMNIST := /usr/share/datasets/fashion-mnist
OPENCV_PHOTOS := /usr/share/doc/opencv-doc/examples

.PHONY: install mediapipe data photos demo lint test test-slow test-all test-torch clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,litert,qat,plot,tfds,photos,jax,notebooks]"
	touch $(STAMP)

$(MP_STAMP): constraints-mediapipe.txt
	test -x $(MP_VENV)/bin/python || $(PYTHON) -m venv $(MP_VENV)
	$(MP_VENV)/bin/python -m pip install -q --upgrade pip
	$(MP_VENV)/bin/python -m pip install -q -c constraints-mediapipe.txt mediapipe
	touch $(MP_STAMP)

install: $(STAMP) $(MP_STAMP) data photos

mediapipe: $(MP_STAMP)

# The original Fashion-MNIST idx files (Debian package dataset-fashion-mnist). Needs root for apt-get; without it
# the Fashion-MNIST tests skip and say why.
data:
	@if [ ! -d "$(FMNIST)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null; \
	  else echo "note: $(FMNIST) is missing and apt-get needs root: Fashion-MNIST tests will skip"; fi; \
	fi

# Real photos for the held-out check of compressed ImageNet models (keras_archs/compress/fidelity.py,
# docs/compression.md "Validation protocol"): the sample data of Debian's opencv-doc (Apache-2.0 AND BSD-3-Clause,
# /usr/share/doc/opencv-doc/copyright). Needs root for apt-get; without it (or when dpkg is told to skip
# /usr/share/doc) the photo tests skip and name the missing files.
photos:
	@if [ ! -f "$(OPENCV_PHOTOS)/data/fruits.jpg" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opencv-doc) >/dev/null \
	      || echo "note: apt-get install opencv-doc failed"; \
	    [ -f "$(OPENCV_PHOTOS)/data/fruits.jpg" ] || echo "note: opencv-doc installed without $(OPENCV_PHOTOS) (dpkg path-exclude?): photo tests will skip"; \
	  else echo "note: $(OPENCV_PHOTOS) is missing and apt-get needs root: photo tests will skip"; fi; \
	fi

# The demo takes the shipped Fashion-MNIST SqueezeNet through Deep Compression and int8 TFLite (keras_archs/demo.py);
# it also re-compresses the ImageNet SqueezeNet 1.0 when the public Deep Compression .net is available locally.
demo: install
	@if [ -f "$(DC_NET)" ]; then $(BIN)/keras-archs demo --dc-weights "$(DC_NET)"; \
	else $(BIN)/keras-archs demo; fi

# ruff: formatter and linter (configured in pyproject.toml); runs before the tests so pytest's summary ends the log.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exit code 5 (no tests collected) fails here like any non-zero code.
# The JAX lane (tests/backends: the zoo on another Keras backend) runs first, in its own process (a process has one
# Keras backend), so the log still ends with the main run's summary line; both must pass.
BACKEND_LANE := $(BIN)/python -m pytest tests/backends -p no:cacheprovider -q

# The default lane runs in PYTEST_WORKERS processes (pytest-xdist): its tests build graphs in single-threaded Python,
# so two processes on two cores halve the wall time (docs/benchmarks.md). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

test: install lint
	KERAS_BACKEND=jax $(BACKEND_LANE) -m "not slow"
	$(BIN)/python -m pytest -m "not slow" -q -n $(PYTEST_WORKERS)

test-slow: install
	KERAS_BACKEND=jax $(BACKEND_LANE) -m slow
	$(BIN)/python -m pytest -m slow -q

test-all: install
	KERAS_BACKEND=jax $(BACKEND_LANE)
	$(BIN)/python -m pytest -q

# The same lane on PyTorch: torch's wheel is large, so it is an extra installed only here (README: backend lanes).
test-torch: install
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[torch]"
	KERAS_BACKEND=torch $(BACKEND_LANE) -m "not slow"

clean:
	rm -rf $(VENV) $(MP_VENV) build dist *.egg-info .pytest_cache
