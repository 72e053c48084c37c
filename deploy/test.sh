#!/usr/bin/env bash
# The whole test suite against real PostgreSQL and Redis: `make test` (or `deploy/test.sh [pytest args]`).
# Creates .venv and installs requirements.txt when needed; starts PostgreSQL and Redis when they are
# down and this machine has them. Runs ruff's checks (complexity included) and its format check first.
# Fails when pytest ran no test. Without arguments, the suite runs in three parts side by side
# (see below).
# `deploy/test.sh --fast [pytest args]` (`make test-fast`): only the tests that start no process
# (pytest -m "not slow"), without the lint checks: the loop to run while working.
set -euo pipefail
fast=false
if [ "${1:-}" = "--fast" ]; then
  fast=true
  shift
fi
cd "$(dirname "$0")/.."
. deploy/python.sh
ensure_venv

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && [ -d /var/lib/redis ]; then
  echo "==> starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  sleep 0.5
fi
ensure_redis 6379

# The browser test (tests/web) drives Debian's chromium through chromium-driver. It skips itself
# where they are missing, except in CI (CI=true), where it must run: install them there.
case "${CI:-}" in "" | 0 | false) in_ci=false ;; *) in_ci=true ;; esac
if [ "$fast" = false ] && [ "$in_ci" = true ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } \
  && command -v apt-get >/dev/null; then
  echo "==> installing chromium and chromium-driver (browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The alert rules (tests/test_monitoring.py) are checked by promtool, from Debian's prometheus
# package: skipped where it is missing, except in CI, where it is installed (its service is not
# started: nothing here runs systemd).
if [ "$fast" = false ] && [ "$in_ci" = true ] && ! command -v promtool >/dev/null && command -v apt-get >/dev/null; then
  echo "==> installing prometheus (promtool, for the alert rules)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if [ "$fast" = true ]; then
  set -- -m "not slow" "$@"
else
  echo "==> ruff check (complexity included) and ruff format --check"
  "$PY" -m ruff check .
  "$PY" -m ruff format --check .
fi
# pytest's status, with "collected nothing" (5) turned into a loud failure.
checked() {
  if [ "$1" -eq 5 ]; then
    echo "error: pytest collected no test${2:+ ($2)}" >&2
    return 1
  fi
  return "$1"
}

# The whole suite, with no arguments, in three pytest processes side by side, each on a Redis
# database index of its own (their PostgreSQL databases are their own already, tests/settings.py):
# the tests that start processes (mostly waiting on workers, servers and browsers) in two parts,
# tests/galactic's shown live and the rest's, the fault drill among them (last of its part's
# big tests, when the others have ended or nearly: its faults are timed); and the tests that start
# no process (busy on the CPU). Each part but the live one is shown when it ends. Any argument, or
# TEST_REDIS_URL, runs one pytest as asked.
if [ "$fast" = false ] && [ "$#" -eq 0 ] && [ -z "${TEST_REDIS_URL:-}" ]; then
  echo "==> pytest, three parts side by side: tests/galactic's tests that start processes (here),"
  echo "    the other tests that start processes (the fault drill among them) and the tests that"
  echo "    start none (each shown when it ends)"
  base=$(($$ % 5))
  logs=()
  pids=()
  names=()
  part() {  # part NAME REDIS_DB PYTEST_ARGS...: one part in the background, its output in a file
    local name=$1 db=$2 log
    shift 2
    log=$(mktemp)
    TEST_REDIS_URL="redis://127.0.0.1:6379/$db" "$PY" -m pytest -p no:cacheprovider "$@" >"$log" 2>&1 &
    pids+=($!)
    logs+=("$log")
    names+=("$name")
  }
  set +e
  part "pytest -m 'not slow'" $((1 + base)) -m "not slow"
  part "pytest -m slow, but tests/galactic" $((6 + base)) -m slow --ignore=tests/galactic
  trap 'kill "${pids[@]}" 2>/dev/null' INT TERM  # Ctrl-C stops the parts in the background too
  TEST_REDIS_URL="redis://127.0.0.1:6379/$((11 + base))" "$PY" -m pytest -m slow tests/galactic \
    -p no:cacheprovider
  live_status=$?
  status=0
  checked "$live_status" "-m slow tests/galactic" || status=1
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    part_status=$?
    echo "==> ${names[$i]} (run side by side)"
    cat "${logs[$i]}"
    rm -f "${logs[$i]}"
    checked "$part_status" "${names[$i]}" || status=1
  done
  set -e
  exit "$status"
fi

echo "==> pytest"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
checked "$status"
