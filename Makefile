# Two entry points for a fresh machine with Python 3.11: `make fuzz` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system fuzz test lint matrix

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job: a campaign (roundtrip fuzz: 10 minutes, 2 processes; ARGS="--minutes 30 --workers 4" and so on),
# with both environments so that every property runs.  The regression gate is `$(PY) -m pytest properties/`.
fuzz:
	$(MAKE) --no-print-directory -j2 $(STAMP) onnx2tf-env
	$(PY) -m roundtrip.cli fuzz $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check roundtrip strategies properties tests bench
	$(PY) -m mypy roundtrip strategies

# Servers and a browser that some tests drive (redis-server on loopback, headless Chromium): installed with
# apt-get where this runs as root; elsewhere the tests that need them skip and say why.
system:
	@missing=""; for p in redis-server chromium; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	elif [ -n "$$missing" ]; then echo "not installed:$$missing (the tests that need them skip)"; fi

# The suite runs in two processes (pytest-xdist), CI's two cores; an idle process takes tests from the busy
# one's queue (worksteal), as the slow tests are a few.  TEST_WORKERS=0 runs it in this one.
TEST_WORKERS ?= 2

# The two environments and the system packages install side by side (mostly waiting on downloads and
# unpacking), then lint.
test: envs
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest tests/ -n $(TEST_WORKERS) --dist worksteal --durations=12 $(ARGS)

.PHONY: envs
envs:
	$(MAKE) --no-print-directory -j3 $(STAMP) onnx2tf-env system

# onnx2tf in an environment of its own (it pins TensorFlow 2.19 and numpy 1.26): roundtrip/convert/remote.py runs a
# server in it.  `make test` and `make fuzz` make it; without it, the onnx2tf properties skip, saying this command.
ONNX2TF_VENV := .venv-onnx2tf
.PHONY: onnx2tf-env
onnx2tf-env: $(ONNX2TF_VENV)/.installed

$(ONNX2TF_VENV)/.installed: envs/onnx2tf.txt
	test -x $(ONNX2TF_VENV)/bin/python || $(PYTHON) -m venv $(ONNX2TF_VENV)
	$(ONNX2TF_VENV)/bin/python -m pip install -q --disable-pip-version-check -r envs/onnx2tf.txt
	touch $@

# The upgrade matrix (docs/matrix.md): every corpus entry's repro.py in the pinned stack's two
# environments and three neighbours, each made in .envs/ from envs/NAME.txt when absent (uv, from its cache).
MATRIX_ENVS ?= pinned onnx2tf ort-1.32.0 tf2onnx-1.16.1 onnx2tf-1.29.0
# Exit status 1 (some entry's status changes between environments) is the matrix's finding, not make's error.
matrix: $(STAMP)
	$(PY) -m roundtrip.cli replay $(foreach e,$(MATRIX_ENVS),--env $(e)) $(ARGS) || test $$? = 1
