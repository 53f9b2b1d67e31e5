#!/usr/bin/env bash
# Run the test suite twice: on SQLite, then on PostgreSQL when one answers.
# Called by `make test` (after set-up); extra pytest arguments come from
# PYTEST_ARGS (a shell-quoted string), e.g. PYTEST_ARGS="-k 'foo and not bar' -x".
#
# - SQLite pass: MTKIT_TEST_DATABASE_URL unset.
# - PostgreSQL pass: MTKIT_TEST_DATABASE_URL from scripts/pg-test-url.sh
#   (PG_TEST_URL overrides). No server: the pass is skipped with a plain
#   message, unless MTKIT_REQUIRE_PG=1, which makes that a failure.
# - Any non-zero pytest exit fails the run, including 5 (no tests collected).
set -uo pipefail

cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Word-split PYTEST_ARGS the way a shell would, honouring quotes.
eval "set -- ${PYTEST_ARGS:-}"

# run_pass NAME [VAR=VALUE]: run pytest, print why it failed, return its exit code.
run_pass() {
  local name=$1; shift
  local rc=0
  env -u MTKIT_TEST_DATABASE_URL "$@" "$PY" -m pytest "${PYTEST_ARGS_ARR[@]}" || rc=$?
  case $rc in
    0) ;;
    5) echo "$name: pytest collected no tests (exit 5); counted as a FAILURE" >&2 ;;
    *) echo "$name: pytest failed (exit $rc)" >&2 ;;
  esac
  return $rc
}
PYTEST_ARGS_ARR=("$@")

echo "== SQLite =="
sqlite_rc=0
run_pass SQLite || sqlite_rc=$?

echo "== PostgreSQL =="
require_pg="${MTKIT_REQUIRE_PG:-0}"
if [ "$require_pg" = "1" ]; then
  # In CI the server should be there; give one that is starting a moment.
  export PG_WAIT="${PG_WAIT:-15}"
fi
pg_rc=0
if pg_url=$(bash scripts/pg-test-url.sh); then
  echo "PostgreSQL URL: $pg_url"
  run_pass PostgreSQL "MTKIT_TEST_DATABASE_URL=$pg_url" || pg_rc=$?
  pg_state=$([ $pg_rc -eq 0 ] && echo passed || echo "FAILED (exit $pg_rc)")
elif [ "$require_pg" = "1" ]; then
  echo "PostgreSQL 未响应,且 MTKIT_REQUIRE_PG=1:失败 (PostgreSQL not reachable and MTKIT_REQUIRE_PG=1: FAILED)" >&2
  pg_rc=1
  pg_state="FAILED (not reachable, required)"
else
  echo "PostgreSQL 未响应:跳过 PostgreSQL 测试 (PostgreSQL not reachable: SKIPPED the PostgreSQL pass)"
  pg_state="skipped"
fi

if [ $sqlite_rc -ne 0 ] || [ $pg_rc -ne 0 ]; then
  sqlite_state=$([ $sqlite_rc -eq 0 ] && echo passed || echo "FAILED (exit $sqlite_rc)")
  echo "make test FAILED: SQLite ${sqlite_state}; PostgreSQL ${pg_state}" >&2
  exit 1
fi
exit 0
