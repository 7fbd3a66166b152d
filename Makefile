# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo
DEMO_REQUESTS ?= 200000

.PHONY: demo test lint bench clean venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)/warehouse
	$(PY) -m jobs.ingest --events samples/events.jsonl --labels samples/labels.jsonl --warehouse $(DEMO_DIR)/warehouse

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check jobs transforms tests

clean:
	rm -rf out .pytest_cache spark-warehouse
