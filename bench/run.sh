#!/usr/bin/env bash
# `make bench`: drive POST /process (payment with a new order each request, and search) at 64
# connections with wrk, against IntentMesh in embedded mode and against the baselines, in the same
# run, and print requests/s, p50 and p99 with the ratios; then the asynchronous path (queued
# searches through RabbitMQ and Redis to their stored results) against bare lapin.
#
# `make bench BENCH_BEFORE=<git revision or directory>` also runs an earlier IntentMesh in the
# same run (its rows are `before-…`, and ours get a "vs before" ratio): a revision is built once
# into target/bench-before/<commit>/ from a temporary worktree; a directory must hold that build's
# `intentmesh` and `intentmesh-async-bench`.
#
# Then the overload scenario (`intentmesh-crowd`): BENCH_CROWD_CONNECTIONS (10,000) keep-alive
# clients send the synchronous search for BENCH_CROWD_SECS (60) after a BENCH_CROWD_RAMP_SECS (10)
# ramp, with `ulimit -n` raised to the hard limit; it prints answers by status, `overloaded`
# answers, transport errors, p50/p99 of successes, the server's peak RSS and any breaker seen open
# (also against the before build, when there is one). BENCH_CROWD_CONNECTIONS=0 skips it.
#
# `BENCH_ROUNDS=N` measures every scenario N times, interleaved (before and this tree swap order
# each round), and reports each scenario's median round with the spread of its ratio to before:
# on a noisy machine that spread is the run-to-run noise a difference must exceed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
BEFORE="${BENCH_BEFORE:-}"
ROUNDS="${BENCH_ROUNDS:-1}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --locked -p intentmesh --bin intentmesh -p intentmesh-bench \
    --bin intentmesh-baseline --bin intentmesh-async-bench --bin intentmesh-crowd

before_dir=""
if [[ -n "$BEFORE" && -d "$BEFORE" ]]; then
    before_dir="$(cd "$BEFORE" && pwd)"
elif [[ -n "$BEFORE" ]]; then
    commit="$(git rev-parse --verify "$BEFORE^{commit}")"
    before_dir="$PWD/target/bench-before/$commit"
    if [[ ! -x "$before_dir/intentmesh" ]]; then
        echo "building $BEFORE ($commit) for comparison (once)" >&2
        tree="$(mktemp -d)"
        build="$PWD/target/bench-before/build"
        git worktree add --detach "$tree" "$commit" >/dev/null
        # The temporary tree goes away however the build ends (the cleanup trap below replaces this).
        trap 'git worktree remove --force "$tree" 2>/dev/null || true' EXIT
        (cd "$tree" && CARGO_TARGET_DIR="$build" cargo build --release --locked \
            -p intentmesh --bin intentmesh -p intentmesh-bench --bin intentmesh-async-bench)
        mkdir -p "$before_dir"
        cp "$build/release/intentmesh" "$build/release/intentmesh-async-bench" "$before_dir/"
        git worktree remove --force "$tree"
        trap - EXIT
    fi
fi

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
    scripts/drop-test-queues.sh "$PREFIX-before." || true
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
# The bare three-hop chain of the mesh's shape (axum → tonic → tonic), doing no work.
mkdir -p "$work/baseline-3hop"
target/release/intentmesh-baseline --gateway 127.0.0.1:18110 --middle 127.0.0.1:18111 \
    --worker 127.0.0.1:18112 --db "$work/baseline-3hop/ledger.sqlite" >"$work/baseline-3hop.log" 2>&1 &
pids+=($!)
if [[ -n "$before_dir" ]]; then
    mkdir -p "$work/before" "$work/before-async"
    GATEWAY_LISTEN_ADDR=127.0.0.1:18030 PAYMENT_LISTEN_ADDR=127.0.0.1:18031 \
    SEARCH_LISTEN_ADDR=127.0.0.1:18032 ROOT_LISTEN_ADDR=127.0.0.1:18033 \
    INTENTMESH_DATA_DIR="$work/before" RUST_LOG=warn \
        "$before_dir/intentmesh" dev >"$work/before.log" 2>&1 &
    pids+=($!)
    GATEWAY_LISTEN_ADDR=127.0.0.1:18040 PAYMENT_LISTEN_ADDR=127.0.0.1:18041 \
    SEARCH_LISTEN_ADDR=127.0.0.1:18042 ROOT_LISTEN_ADDR=127.0.0.1:18043 \
    INTENTMESH_DATA_DIR="$work/before-async" RABBITMQ_URL="$RABBITMQ_URL" REDIS_URL="$REDIS_URL" \
    TASK_QUEUE_PREFIX="$PREFIX-before" REDIS_KEY_PREFIX="$PREFIX-before" RUST_LOG=warn \
        "$before_dir/intentmesh" dev >"$work/before-async.log" 2>&1 &
    pids+=($!)
fi

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
wait_ready http://127.0.0.1:18110/health
if [[ -n "$before_dir" ]]; then
    wait_ready http://127.0.0.1:18030/ready
    wait_ready http://127.0.0.1:18040/ready
fi

run() { # name url script round
    echo "  $1 (${DURATION}s, $CONNECTIONS connections)" >&2
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "bench/wrk/$3.lua" "$2" >/dev/null # warm-up
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "bench/wrk/$3.lua" "$2" >"$work/$1.$4.txt"
}
# Before and this tree, in an order that swaps each round (what runs second may find the machine
# warmer or busier).
pair() { # path script round
    if [[ -z "$before_dir" ]]; then
        run "intentmesh-$1" "http://127.0.0.1:18000/process" "$2" "$3"
    elif (( $3 % 2 )); then
        run "before-$1" "http://127.0.0.1:18030/process" "$2" "$3"
        run "intentmesh-$1" "http://127.0.0.1:18000/process" "$2" "$3"
    else
        run "intentmesh-$1" "http://127.0.0.1:18000/process" "$2" "$3"
        run "before-$1" "http://127.0.0.1:18030/process" "$2" "$3"
    fi
}
async_bench() { # binary gateway prefix output
    "$1" --gateway "$2" --rabbitmq-url "$RABBITMQ_URL" --redis-url "$REDIS_URL" --prefix "$3" \
        --tasks "${BENCH_TASKS:-3000}" --concurrency "$CONNECTIONS" >"$4"
}

for round in $(seq 1 "$ROUNDS"); do
    echo "measuring (round $round of $ROUNDS)" >&2
    run baseline-pay http://127.0.0.1:18100/process pay "$round"
    pair pay pay "$round"
    run baseline-search http://127.0.0.1:18100/process search "$round"
    run baseline-search-3hop http://127.0.0.1:18110/process search "$round"
    pair search search "$round"
    run intentmesh-search-uncached http://127.0.0.1:18010/process search "$round"
    echo "  async (${BENCH_TASKS:-3000} tasks)" >&2
    ours=(target/release/intentmesh-async-bench http://127.0.0.1:18020 "$PREFIX" "$work/async.$round.txt")
    theirs=("$before_dir/intentmesh-async-bench" http://127.0.0.1:18040 "$PREFIX-before"
        "$work/async-before.$round.txt")
    if [[ -z "$before_dir" ]]; then
        async_bench "${ours[@]}"
    elif (( round % 2 )); then
        async_bench "${theirs[@]}"
        async_bench "${ours[@]}"
    else
        async_bench "${ours[@]}"
        async_bench "${theirs[@]}"
    fi
done

python3 bench/report.py "$work"

CROWD="${BENCH_CROWD_CONNECTIONS:-10000}"
if (( CROWD > 0 )); then
    # Each process holds one descriptor per connection: the clients here, the gateway there.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if (( CROWD + 200 > $(ulimit -n) )); then
        CROWD=$(( $(ulimit -n) - 200 ))
        echo "ulimit -n is $(ulimit -n): the crowd is $CROWD connections" >&2
    fi
    crowd() { # name gateway root pid
        echo "  overload: $CROWD connections on $1 (${BENCH_CROWD_SECS:-60}s)" >&2
        target/release/intentmesh-crowd --name "$1" --gateway "$2" --connections "$CROWD" \
            --duration-secs "${BENCH_CROWD_SECS:-60}" --ramp-secs "${BENCH_CROWD_RAMP_SECS:-10}" \
            --pid "$4" --metrics "$2/metrics" --metrics "$3/metrics"
    }
    echo
    echo "Overload: the synchronous search, $CROWD connections"
    crowd intentmesh-search-crowd http://127.0.0.1:18000 http://127.0.0.1:18003 "${pids[0]}"
    if [[ -n "$before_dir" ]]; then
        crowd before-search-crowd http://127.0.0.1:18030 http://127.0.0.1:18033 "${pids[5]}" \
            | tail -n +3
    fi
fi
