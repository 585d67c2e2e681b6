# Vigil: `make demo` and `make test` set up a fresh Debian 12 machine (apt + .venv) before they run.
VENV  := .venv
BIN   := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test bench lint clean

setup:
	@bash deploy/bootstrap.sh

demo: setup
	$(BIN)/vigil demo

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/vigil bench

lint: setup
	$(BIN)/ruff check streamer engines watchlists tests
	$(BIN)/ruff format --check streamer engines watchlists tests

clean:
	rm -rf $(VENV) .pytest_cache data/demo
