# swe-srl: the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: setup test test-fast demo bench clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q --durations=15 tests

# Unit tests only (no Docker, no model training).
test-fast: setup
	$(PY) -m pytest -q tests -m "not docker and not model and not vllm and not slow"

demo: setup
	bash scripts/demo.sh

bench: setup
	for b in scripts/bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf runs out .pytest_cache
