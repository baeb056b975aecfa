#!/usr/bin/env bash
# Drops the PostgreSQL databases that tests create (imtest_*). Fails loudly when PostgreSQL is
# unreachable: the suite needs it anyway.
set -euo pipefail
url="${1:-postgres://postgres@127.0.0.1:5432/test}"
if ! command -v psql >/dev/null; then
    echo "psql not found; leaving old test databases in place" >&2
    exit 0
fi
psql "$url" -v ON_ERROR_STOP=1 -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'imtest\_%'" |
while read -r db; do
    psql "$url" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
done
