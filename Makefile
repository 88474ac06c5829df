# Two commands on a fresh machine: `make run` and `make test`. Nothing else to set up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# ONNX Runtime's GPU build where an NVIDIA driver is present, else the CPU build (never both); the stamp
# names the build, so a machine that gains a driver reinstalls on its next `make run`
ORT    ?= $(shell test -e /proc/driver/nvidia/version && echo gpu || echo cpu)
ORT_NOT = $(if $(filter gpu,$(ORT)),onnxruntime,onnxruntime-gpu)
STAMP  := $(VENV)/.installed-$(ORT)
CHROMIUM := /usr/bin/chromium
PORT   ?= 4200

.PHONY: run test test-fast format install clean bench gpu-check server deploy worker browser postgres vulkan

run: $(STAMP)  ## enhance every video in downloads/ into final_output/
	$(VENV)/bin/vidpipe run

# the suite includes the layering contracts (lint-imports) and ruff (lint and format), in tests/test_layout.py
test: $(STAMP) browser postgres vulkan  ## every test (CI runs this)
	$(PY) -m pytest

test-fast: $(STAMP)  ## the fast tier: everything but the tests marked slow (servers, subprocess runs, long clips)
	$(PY) -m pytest -m "not slow"

format: $(STAMP)  ## fix what ruff can: lint fixes and the format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# the bench, like the tests, looks in ../shared/weights (when there is one) before the user's model folders
SHARED_WEIGHTS := $(wildcard $(abspath ../shared/weights))

bench: $(STAMP)  ## measure stages, pipeline and the seed baselines (writes bench.json)
	VIDPIPE_MODELS_DIR="$(SHARED_WEIGHTS)$${VIDPIPE_MODELS_DIR:+:$$VIDPIPE_MODELS_DIR}" \
	  $(VENV)/bin/vidpipe bench --json bench.json --lengths 10,60

GPU_OUT ?= gpu-check
gpu-check: $(STAMP)  ## on an NVIDIA machine: the CUDA tests, doctor and the GPU benchmark, into $(GPU_OUT)/
	mkdir -p $(GPU_OUT)
	$(VENV)/bin/vidpipe doctor > $(GPU_OUT)/doctor.txt 2>&1 || true
	VIDPIPE_MODELS_DIR="$(SHARED_WEIGHTS)$${VIDPIPE_MODELS_DIR:+:$$VIDPIPE_MODELS_DIR}" $(PY) -m pytest -q -rs \
	  tests/test_models.py tests/test_media.py tests/test_rvm_binding.py tests/test_matte.py tests/test_gpu_limit.py \
	  tests/test_interpolate.py \
	  > $(GPU_OUT)/tests.txt 2>&1 || true
	VIDPIPE_MODELS_DIR="$(SHARED_WEIGHTS)$${VIDPIPE_MODELS_DIR:+:$$VIDPIPE_MODELS_DIR}" \
	  $(VENV)/bin/vidpipe bench --gpu --json $(GPU_OUT)/bench-gpu.json > $(GPU_OUT)/bench-gpu.txt 2>&1 || true
	tail -3 $(GPU_OUT)/tests.txt; cat $(GPU_OUT)/bench-gpu.txt

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
	$(PY) -m pip uninstall -q -y $(ORT_NOT) 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,$(ORT)]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# the UI test drives Debian's chromium (Playwright's own browser download is not used)
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium for the UI test"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's postgresql for the scale-out test"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# a software Vulkan device (Mesa's llvmpipe): ncnn's Vulkan path is tested on it, chosen explicitly (auto never
# takes a CPU-type device)
vulkan:
	@ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's mesa-vulkan-drivers for the Vulkan test"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null; }

clean:  ## remove caches and intermediates (keeps downloads/ and final_output/)
	rm -rf .vidpipe logs .pytest_cache
