# The two commands of the README. Each installs what it needs first.
.PHONY: setup run lab test lint image

setup:
	./scripts/setup.sh

# The main job: the lab, the local Slack and the bot; alice's /etcd status and /etcd backup; the bot
# stays up for you to try until Ctrl-C.
run: setup
	uv run etcdops demo

lab: setup
	uv run etcdops lab up

lint: setup
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy

# Everything CI runs: lint, types, then every test (the lab tests need root).
test: lint
	./scripts/run-tests.sh

# The container image (deploy/Containerfile) as localhost/etcdops:latest, built offline from a local
# debootstrap base and a wheelhouse of the locked dependencies; podman is installed when missing.
image: setup
	./scripts/build-image.sh
