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
