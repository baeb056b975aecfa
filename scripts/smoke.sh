#!/usr/bin/env bash
# End-to-end smoke tests against a deployed IntentMesh: health, readiness, a payment answered in
# the same response, a search queued (202) and followed to its result and its event stream, a
# routing decision, and a bad request's error envelope. Exits non-zero on the first failure.
set -euo pipefail

usage() {
    echo "usage: [ADMIN_URL=<admin-url>] scripts/smoke.sh <gateway-url>   e.g. scripts/smoke.sh http://localhost:8000" >&2
    echo "  /health and /ready are asked of ADMIN_URL (default: the gateway URL); the Ingress and the" >&2
    echo "  HTTPRoute do not route them: port-forward the admin port, ADMIN_URL=http://localhost:9090" >&2
    exit 64
}
[[ $# -eq 1 ]] || usage
url="${1%/}"
[[ "$url" =~ ^https?:// ]] || usage
admin="${ADMIN_URL:-$url}"
admin="${admin%/}"

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
post() { # path body -> "status body"
    curl -sS -o /tmp/smoke.$$ -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$url$1"
}
trap 'rm -f /tmp/smoke.$$' EXIT

[[ "$(curl -sS -o /dev/null -w '%{http_code}' "$admin/health")" == 200 ]] || fail "GET /health"
ok "GET /health"
for _ in $(seq 1 60); do
    [[ "$(curl -sS -o /dev/null -w '%{http_code}' "$admin/ready")" == 200 ]] && break
    sleep 2
done
[[ "$(curl -sS -o /dev/null -w '%{http_code}' "$admin/ready")" == 200 ]] || fail "GET /ready never 200"
ok "GET /ready"

order="$(( (RANDOM << 15 | RANDOM) % 900000 + 100000 ))"
status="$(post /process "{\"message\": \"I want to pay \$100 for order #$order\", \"user_id\": \"smoke\", \"context\": {\"currency\": \"USD\"}}")"
[[ "$status" == 200 ]] || fail "payment answered $status: $(cat /tmp/smoke.$$)"
[[ "$(json 'd["data"]["status"]' </tmp/smoke.$$)" == completed ]] || fail "payment not completed: $(cat /tmp/smoke.$$)"
ok "POST /process payment (order $order) → 200 completed"

status="$(post /process '{"message": "search for wireless headphones under $50", "user_id": "smoke", "context": {"category": "electronics"}}')"
[[ "$status" == 202 ]] || fail "search answered $status: $(cat /tmp/smoke.$$)"
task="$(json 'd["task_id"]' </tmp/smoke.$$)"
ok "POST /process search → 202 $task"
for _ in $(seq 1 100); do
    state="$(curl -sS "$url/tasks/$task" | json 'd["status"]')"
    [[ "$state" == success || "$state" == failed ]] && break
    sleep 0.1
done
[[ "$state" == success ]] || fail "task $task ended $state"
ok "GET /tasks/$task → success"
events="$(curl -sS --max-time 10 "$url/tasks/$task/events" | grep -c '^event:' || true)"
[[ "$events" -ge 3 ]] || fail "expected queued, working, success events; got $events"
ok "GET /tasks/$task/events → $events events"

status="$(post /route '{"message": "find a yoga mat under 30 dollars", "user_id": "smoke"}')"
[[ "$status" == 200 && "$(json 'd["agent"]' </tmp/smoke.$$)" == search ]] || fail "route: $(cat /tmp/smoke.$$)"
ok "POST /route → search"

status="$(post /process '{"message": "pay 100 XYZ", "user_id": "smoke"}')"
[[ "$status" == 422 && "$(json 'd["error"]["code"]' </tmp/smoke.$$)" == invalid_currency ]] || fail "bad currency: $status $(cat /tmp/smoke.$$)"
ok "POST /process bad currency → 422 invalid_currency"
echo "smoke tests passed against $url"
