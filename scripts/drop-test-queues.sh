#!/usr/bin/env bash
# Deletes the RabbitMQ queues whose names start with a prefix (default imtest-: those tests create
# and a failed test left behind; passing tests delete their own). Needs rabbitmqctl on this
# machine; without it, says so.
set -euo pipefail
prefix="${1:-imtest-}"
if ! command -v rabbitmqctl >/dev/null; then
    echo "rabbitmqctl not found; leaving old test queues in place" >&2
    exit 0
fi
rabbitmqctl list_queues name -q --no-table-headers 2>/dev/null | { grep "^${prefix}" || true; } |
while read -r queue; do
    rabbitmqctl delete_queue "$queue" -q </dev/null >/dev/null
done
