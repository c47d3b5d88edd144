# Quick start: `make run` and `make test`. Both create .venv and install the project first (the first time
# about two minutes, most of it pip downloading and installing; it shows its progress).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA := data

.PHONY: run test lint bench reset-demo clean

$(STAMP): pyproject.toml
	@echo "Installing dependencies into $(VENV) (first run: about 2 minutes)..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --progress-bar on pip
	$(PY) -m pip install --progress-bar on -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fpscore demo
	-$(VENV)/bin/fpscore recover  # movements a crash left in flight; the dashboard starts either way
	@echo "Serving the back office at http://127.0.0.1:$${STREAMLIT_SERVER_PORT:-8501} and the shop at" \
		"http://127.0.0.1:$${FPS_SHOP_PORT:-8600}; stop both with Ctrl+C."
	$(VENV)/bin/fpscore shop & shop=$$!; trap 'kill $$shop 2>/dev/null' EXIT; \
		$(VENV)/bin/streamlit run dashboard/serve.py --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check fpscore tests bench dashboard pages

bench: $(STAMP)
	$(PY) bench/ledger.py

# The demo's data only (its SQLite databases, credentials and the dashboard's session key in ./data): the
# next `make run` loads a fresh demo. The environment (.venv) stays.
reset-demo:
	rm -rf $(DATA)

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .hypothesis
