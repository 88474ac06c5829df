# Two commands on a fresh machine: `make run` and `make test`. Nothing else to set up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install clean bench

run: $(STAMP)  ## enhance every video in downloads/ into final_output/
	$(VENV)/bin/vidpipe run

test: $(STAMP)  ## the test suite (CI runs this)
	$(PY) -m pytest

bench: $(STAMP)  ## measure stages, pipeline and the seed baselines (writes bench.json)
	$(VENV)/bin/vidpipe bench --json bench.json --lengths 10,60

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

clean:  ## remove caches and intermediates (keeps downloads/ and final_output/)
	rm -rf .vidpipe logs .pytest_cache
