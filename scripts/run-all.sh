#!/usr/bin/env bash
# `make run`: the web server (gunicorn) and the background worker (Huey consumer) together.
# Ctrl-C, a TERM to this script, or either process ending stops both: one never runs without the
# other (a web server whose SMS never leave, or a worker nobody sees).
#   usage: scripts/run-all.sh HOST PORT [gunicorn workers]
set -u
HOST=${1:-127.0.0.1}
PORT=${2:-5000}
WEB_WORKERS=${3:-2}
BIN=${VENV:-.venv}/bin
pids=()

stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    # Both exit cleanly (gunicorn finishes its requests, the worker its running task); whatever
    # still runs after STOP_GRACE seconds is stopped hard, so Ctrl-C never hangs.
    local waited=0
    while [ -n "$(jobs -rp)" ] && [ "$waited" -lt $((${STOP_GRACE:-20} * 2)) ]; do
        sleep 0.5
        waited=$((waited + 1))
    done
    for pid in $(jobs -rp); do kill -KILL "$pid" 2>/dev/null; done
    wait
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$BIN/flask" --app app queue worker &
pids+=($!)
"$BIN/gunicorn" -c gunicorn.conf.py -w "$WEB_WORKERS" -b "$HOST:$PORT" 'app:create_app()' &
pids+=($!)

wait -n  # the first of the two to end
status=$?
echo "run-all: 网站或后台任务进程已退出(状态 $status),正在停止另一个。" >&2
exit "$status"
