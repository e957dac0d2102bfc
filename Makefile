# Set-up and checks. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama.cpp is compiled from source on first install (about 7-13 minutes on 2 cores); the wheel
# is kept (see WHEELS below), so later installs take seconds. Multimodal support is not needed. On x86-64
# the build is portable (AVX2), not tuned to the build machine: a native build on a CPU that
# reports AMX crashed in llama_decode under a VM that does not grant it, and a cached native
# wheel would carry that to any other machine.
PORTABLE_X86 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF $(if $(filter x86_64,$(shell uname -m)),$(PORTABLE_X86))

.PHONY: install models demo test lint clean phoenix

# pip's wheel cache is keyed by the source's address, not by the build flags, so a wheel built
# natively by an older set-up would be taken again. The llama.cpp wheel is therefore built into a
# folder named after its version and flags, and installed from there.
LLAMA_CPP := $(shell grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | sed 's/\[server\]//')
WHEELS    := $(HOME)/.cache/agentroute/wheels/$(shell echo '$(LLAMA_CPP) $(CMAKE_ARGS)' | sha1sum | cut -c1-12)

# When a portable build was asked for, a wheel tuned past AVX2 (AVX-512, AMX) is refused here
# rather than crashing at the first answer on another machine.
define CHECK_LLAMA_BUILD
import llama_cpp, os, sys
info = llama_cpp.llama_print_system_info().decode()
tuned = [f for f in ("AVX512 = 1", "AMX") if f in info]
if "GGML_NATIVE=OFF" in os.environ.get("CMAKE_ARGS", "") and tuned:
    sys.exit(f"llama.cpp was built for this CPU only ({tuned}); run `make clean install`")
endef
export CHECK_LLAMA_BUILD

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip wheel --quiet --no-cache-dir --no-deps -w $(WHEELS) '$(LLAMA_CPP)'
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) -e '.[local,dev]'
	$(BIN)/python -c "$$CHECK_LLAMA_BUILD"
	touch $@

install: $(BIN)/.installed

# Arize Phoenix, the trace backend that tests/test_otel_live.py sends spans to, in a virtualenv
# of its own (its dependencies would move this project's).
PHOENIX := .venv-phoenix
$(PHOENIX)/bin/phoenix:
	$(PYTHON) -m venv $(PHOENIX)
	$(PHOENIX)/bin/python -m pip install --quiet 'arize-phoenix==20.26.1'

phoenix: $(PHOENIX)/bin/phoenix

models: install
	$(BIN)/agentroute models pull all

demo: models
	$(BIN)/agentroute demo

.PHONY: docs
docs: install  # the documentation site, in site/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check agentroute tests benchmarks cookbook
	$(BIN)/ruff format --check agentroute tests benchmarks cookbook
	$(BIN)/mypy

test: models lint docs  # docs: the site builds with no warning (its code runs in the tests)
	AGENTROUTE_REQUIRE_LOCAL=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(PHOENIX) traces .pytest_cache .mypy_cache .ruff_cache
