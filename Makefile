# Quick start: `make run` and `make test`. Both create .venv and install the project first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fpscore demo
	-$(VENV)/bin/fpscore recover  # movements a crash left in flight; the dashboard starts either way
	$(VENV)/bin/streamlit run dashboard/serve.py --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check fpscore tests bench dashboard pages

bench: $(STAMP)
	$(PY) bench/ledger.py

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
