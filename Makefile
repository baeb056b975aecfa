# IntentMesh — the two commands are `make run` and `make test`; each does its own set-up.
SHELL := /bin/bash
CARGO ?= cargo
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

.PHONY: run test lint unit bench clean-test-databases clean-test-queues help

help:
	@echo "make run    build (release) and start gateway :8000, payment :8001, search :8002, root :8003"
	@echo "make test   formatting, clippy, and the whole test suite (needs PostgreSQL, Redis, RabbitMQ; see README)"
	@echo "make bench  load-test the mesh with wrk against same-run baselines"

## Build in release mode and start the whole mesh in one process with embedded defaults.
run:
	$(CARGO) run --release --locked --bin intentmesh -- dev

## The whole suite: lint, then every unit, contract and end-to-end test (nextest when present:
## one process per test and a closing summary; plain `cargo test` otherwise).
test: lint clean-test-databases clean-test-queues
	@if command -v cargo-nextest >/dev/null; then \
		$(CARGO) nextest run --workspace --locked --no-tests=fail; \
	else \
		$(CARGO) test --workspace --locked; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Drops the throwaway databases earlier test runs created (named imtest_*).
clean-test-databases:
	@scripts/drop-test-databases.sh "$(TEST_DATABASE_URL)"

## Deletes RabbitMQ queues a failed earlier run left behind (named imtest-*).
clean-test-queues:
	@scripts/drop-test-queues.sh

## Throughput and latency against baselines measured in the same run (installs wrk if needed).
bench:
	bench/run.sh
