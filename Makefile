# Two commands on a fresh machine: `make run` and `make test`. Nothing else to set up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
PORT   ?= 4200

.PHONY: run test install clean bench server deploy worker browser

run: $(STAMP)  ## enhance every video in downloads/ into final_output/
	$(VENV)/bin/vidpipe run

test: $(STAMP) browser  ## the layering contracts and the test suite (CI runs this)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# the bench, like the tests, looks in ../shared/weights (when there is one) before the user's model folders
SHARED_WEIGHTS := $(wildcard $(abspath ../shared/weights))

bench: $(STAMP)  ## measure stages, pipeline and the seed baselines (writes bench.json)
	VIDPIPE_MODELS_DIR="$(SHARED_WEIGHTS)$${VIDPIPE_MODELS_DIR:+:$$VIDPIPE_MODELS_DIR}" \
	  $(VENV)/bin/vidpipe bench --json bench.json --lengths 10,60

server: $(STAMP)  ## a Prefect server with UI on http://127.0.0.1:$(PORT)
	$(VENV)/bin/vidpipe server --port $(PORT)

deploy: $(STAMP)  ## work pool, GPU limit and deployments on $PREFECT_API_URL
	$(VENV)/bin/vidpipe deploy

worker: $(STAMP)  ## run flow runs from the rtx3060 pool on this machine
	$(VENV)/bin/vidpipe worker

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

# the UI test drives Debian's chromium (Playwright's own browser download is not used)
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium for the UI test"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

clean:  ## remove caches and intermediates (keeps downloads/ and final_output/)
	rm -rf .vidpipe logs .pytest_cache
