# The two commands of the README. Each installs what it needs first.
.PHONY: setup run lab test lint

setup:
	./scripts/setup.sh

# The main job. Until the bot lands (issue 3) it starts the lab and says how to rehearse by hand.
run: setup
	uv run etcdops lab up

lab: run

lint: setup
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy

# Everything CI runs: lint, types, then every test (the lab tests need root).
test: lint
	./scripts/run-tests.sh
