#!/usr/bin/env bash
# `make bench`: drive POST /process (payment with a new order each request, and search) at 64
# connections with wrk, against IntentMesh in embedded mode and against the baselines, in the same
# run, and print requests/s, p50 and p99 with the ratios; then the asynchronous path (queued
# searches through RabbitMQ and Redis to their stored results) against bare lapin.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --locked -p intentmesh --bin intentmesh -p intentmesh-bench \
    --bin intentmesh-baseline --bin intentmesh-async-bench

# The async path needs the real RabbitMQ and Redis (as `make test` does); queues and keys get a
# prefix of this run's own, deleted at the end.
RABBITMQ_URL="${BENCH_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
PREFIX="imbench-$$"


work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
    scripts/drop-test-queues.sh "$PREFIX." || true
}
trap cleanup EXIT

mkdir -p "$work/ours" "$work/uncached" "$work/baseline"
GATEWAY_LISTEN_ADDR=127.0.0.1:18000 PAYMENT_LISTEN_ADDR=127.0.0.1:18001 \
SEARCH_LISTEN_ADDR=127.0.0.1:18002 ROOT_LISTEN_ADDR=127.0.0.1:18003 \
INTENTMESH_DATA_DIR="$work/ours" RUST_LOG=warn \
    target/release/intentmesh dev >"$work/ours.log" 2>&1 &
pids+=($!)
# The same mesh with the search cache off, to show what a cache miss costs.
GATEWAY_LISTEN_ADDR=127.0.0.1:18010 PAYMENT_LISTEN_ADDR=127.0.0.1:18011 \
SEARCH_LISTEN_ADDR=127.0.0.1:18012 ROOT_LISTEN_ADDR=127.0.0.1:18013 \
INTENTMESH_DATA_DIR="$work/uncached" SEARCH_CACHE_CAPACITY=0 RUST_LOG=warn \
    target/release/intentmesh dev >"$work/uncached.log" 2>&1 &
pids+=($!)
# The mesh with RabbitMQ and Redis, for the asynchronous path.
mkdir -p "$work/async"
GATEWAY_LISTEN_ADDR=127.0.0.1:18020 PAYMENT_LISTEN_ADDR=127.0.0.1:18021 \
SEARCH_LISTEN_ADDR=127.0.0.1:18022 ROOT_LISTEN_ADDR=127.0.0.1:18023 \
INTENTMESH_DATA_DIR="$work/async" RABBITMQ_URL="$RABBITMQ_URL" REDIS_URL="$REDIS_URL" \
TASK_QUEUE_PREFIX="$PREFIX" REDIS_KEY_PREFIX="$PREFIX" RUST_LOG=warn \
    target/release/intentmesh dev >"$work/async.log" 2>&1 &
pids+=($!)
target/release/intentmesh-baseline --gateway 127.0.0.1:18100 --worker 127.0.0.1:18101 \
    --db "$work/baseline/ledger.sqlite" >"$work/baseline.log" 2>&1 &
pids+=($!)

wait_ready() { # url
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "$1 never answered" >&2
    cat "$work"/*.log >&2
    exit 1
}
wait_ready http://127.0.0.1:18000/ready
wait_ready http://127.0.0.1:18010/ready
wait_ready http://127.0.0.1:18020/ready
wait_ready http://127.0.0.1:18100/health

run() { # name url script
    echo "  $1 (${DURATION}s, $CONNECTIONS connections)" >&2
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "bench/wrk/$3.lua" "$2" >/dev/null # warm-up
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "bench/wrk/$3.lua" "$2" >"$work/$1.txt"
}

echo "measuring" >&2
run baseline-pay http://127.0.0.1:18100/process pay
run intentmesh-pay http://127.0.0.1:18000/process pay
run baseline-search http://127.0.0.1:18100/process search
run intentmesh-search http://127.0.0.1:18000/process search
run intentmesh-search-uncached http://127.0.0.1:18010/process search

python3 bench/report.py "$work"
target/release/intentmesh-async-bench --gateway http://127.0.0.1:18020 \
    --rabbitmq-url "$RABBITMQ_URL" --redis-url "$REDIS_URL" --prefix "$PREFIX" \
    --tasks "${BENCH_TASKS:-3000}" --concurrency "$CONNECTIONS"
