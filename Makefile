# Set-up and checks. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama.cpp is compiled from source on first install (about 7-13 minutes on 2 cores); pip
# caches the wheel, so later installs take seconds. Multimodal support is not needed. On x86-64
# the build is portable (AVX2), not tuned to the build machine: a native build on a CPU that
# reports AMX crashed in llama_decode under a VM that does not grant it, and a cached native
# wheel would carry that to any other machine.
PORTABLE_X86 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF $(if $(filter x86_64,$(shell uname -m)),$(PORTABLE_X86))

.PHONY: install models demo test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $@

install: $(BIN)/.installed

models: install
	$(BIN)/agentroute models pull all

demo: models
	$(BIN)/agentroute demo

lint: install
	$(BIN)/ruff check agentroute tests benchmarks cookbook
	$(BIN)/ruff format --check agentroute tests benchmarks cookbook
	$(BIN)/mypy

test: models lint
	AGENTROUTE_REQUIRE_LOCAL=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) traces .pytest_cache .mypy_cache .ruff_cache
