# Quick start: `make run` starts axisd on the embedded default, `make test` runs the suite.
# Both create .venv and install the project into it on first use (and again when setup.cfg changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench fuzz clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Git keeps no file mode but 644 and 755: the demo's secret comes out of a checkout readable by all, which axisd refuses.
run: $(STAMP)
	chmod 600 conf/secrets/*.hmac
	$(VENV)/bin/axisd --config conf/axisd.toml

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_envelope.py

# The long fuzz run (README, "Fuzzing"): atheris if it is installed (pip install -e '.[fuzz]'), else a plain
# mutation loop.  New inputs go to FUZZ_DIR/corpus, findings (crash-*, timeout-*) to FUZZ_DIR; both gitignored (var/).
RUNS     ?= 1000000
FUZZ_DIR ?= var/fuzz
fuzz: $(STAMP)
	mkdir -p $(FUZZ_DIR)/corpus
	nice -n 10 $(PY) tests/fuzz/fuzz_reader.py -runs=$(RUNS) -timeout=5 -rss_limit_mb=2048 -max_len=131072 \
	    -dict=tests/fuzz/edxml.dict -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus tests/fuzz/corpus $(wildcard ../shared/interop/vnpt-sdk)

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .hypothesis
