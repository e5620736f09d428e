# Quick start: `make run` starts axisd on the embedded default, `make test` runs the suite.
# Both create .venv and install the project into it on first use (and again when setup.cfg changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/axisd --config conf/axisd.toml

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_envelope.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .hypothesis
