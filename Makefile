# Two commands for a newcomer: `make demo` and `make test`.
# Both create .venv on first use and (re)install requirements.txt whenever it changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-installed

.PHONY: setup test demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --upgrade-strategy only-if-needed -r requirements.txt
	cp requirements.txt $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) demo.py

clean:
	rm -rf checkpoints/demo results/demo

# The browser tests (the painter's page, test.py's results page): selenium into .venv, Chromium and
# chromedriver from apt when missing (as root or with sudo; otherwise says what to install).
.PHONY: browser-test
browser-test: $(STAMP)
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install selenium
	@if ! { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null \
	    || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium chromium-driver; \
	  elif command -v sudo >/dev/null; then sudo apt-get update && sudo apt-get install -y chromium chromium-driver; \
	  else echo "browser-test needs Chromium and chromedriver: install them (Debian/Ubuntu: apt-get install chromium chromium-driver) and run again"; exit 1; fi; \
	fi
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs tests/painter/test_browser.py tests/inference/test_results_page.py
