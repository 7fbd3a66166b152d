# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo
DEMO_REQUESTS ?= 300000
# The study labels 0.25% of billions of requests; a demo-sized year needs a denser
# sample for weekly category shares that are more than noise.
DEMO_LABEL_RATE ?= 0.02

.PHONY: demo test lint bench dist clean venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(PY) -m jobs.generate --requests $(DEMO_REQUESTS) --label-rate $(DEMO_LABEL_RATE) --out $(DEMO_DIR)/raw
	$(PY) -m jobs.pipeline --events $(DEMO_DIR)/raw/events --labels $(DEMO_DIR)/raw/labels --warehouse $(DEMO_DIR)/warehouse
	$(PY) -m jobs.plot --warehouse $(DEMO_DIR)/warehouse --out $(DEMO_DIR)/report --generated $(DEMO_DIR)/raw/_manifest.json

test: $(STAMP)
	$(PY) -m pytest -q

# Generates 2M and 10M requests once (cached in bench/data), runs every stage in
# local[2], then the DuckDB baseline on the same files, and 2M on a loopback
# standalone cluster; writes bench/results.md.
bench: $(STAMP)
	$(PY) -m tools.bench --sizes 2000000,10000000 --cluster 2000000 --out bench/results.md

dist: $(STAMP)
	$(PY) -m tools.package --out dist

lint: $(STAMP)
	$(PY) -m ruff check jobs transforms tests figures tools

clean:
	rm -rf out .pytest_cache spark-warehouse
