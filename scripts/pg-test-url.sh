#!/usr/bin/env bash
# Find a PostgreSQL URL the test suite can use; print it on stdout.
#
#   url=$(bash scripts/pg-test-url.sh) || echo "no PostgreSQL"
#
# Exit 0 and print the URL when a server answers and a log-in works;
# exit 1 (printing the reason on stderr) when not.
#
# - PG_TEST_URL set: only that URL is tried.
# - Otherwise, on $PG_HOST:$PG_PORT (default 127.0.0.1:5432), database
#   $PG_DB (default test), the users postgres then root are tried (trust auth).
# - PG_WAIT=N keeps trying for up to N seconds (default 0: one try),
#   for a server that is still starting.
# Needs .venv (psycopg) for the log-in check; pg_isready is used first when present.
set -uo pipefail

cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST="${PG_HOST:-127.0.0.1}"
PORT="${PG_PORT:-5432}"
DB="${PG_DB:-test}"
WAIT="${PG_WAIT:-0}"

if [ -n "${PG_TEST_URL:-}" ]; then
  candidates=("$PG_TEST_URL")
else
  candidates=()
  for user in postgres root; do
    candidates+=("postgresql+psycopg://${user}@${HOST}:${PORT}/${DB}")
  done
fi

if [ ! -x "$PY" ]; then
  echo "pg-test-url: $PY not found; run 'make setup' first" >&2
  exit 1
fi

# Can we log in with this SQLAlchemy-style URL? (3 s connect timeout)
can_connect() {
  "$PY" - "$1" <<'EOF' 2>/dev/null
import sys
import psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://", 1)
psycopg.connect(url, connect_timeout=3).close()
EOF
}

# Does anything answer on HOST:PORT? (only for the default candidates;
# a custom PG_TEST_URL may point elsewhere, so it is just tried)
server_answers() {
  [ -n "${PG_TEST_URL:-}" ] && return 0
  command -v pg_isready >/dev/null 2>&1 || return 0   # the log-in attempt will tell
  pg_isready -q -h "$HOST" -p "$PORT" -t 3
}

deadline=$(( $(date +%s) + WAIT ))
while :; do
  if server_answers; then
    for url in "${candidates[@]}"; do
      if can_connect "$url"; then
        echo "$url"
        exit 0
      fi
    done
    reason="no log-in worked (tried: ${candidates[*]})"
  else
    reason="no server answers on ${HOST}:${PORT}"
  fi
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done

echo "pg-test-url: $reason" >&2
exit 1
