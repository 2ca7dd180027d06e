# Two entry points for a fresh machine with Python 3.11: `make fuzz` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup fuzz test lint

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

fuzz: $(STAMP)
	$(PY) -m pytest properties/ $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check roundtrip strategies properties tests bench
	$(PY) -m mypy roundtrip strategies

test: lint
	$(PY) -m pytest tests/ $(ARGS)
