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
# the tests that start processes (mostly waiting on workers, servers and browsers) but the fault
# drill, shown live; the drill's; and the others (busy on the CPU), both shown when they end. About
# half the time of one after the other. Any argument, or TEST_REDIS_URL, runs one pytest as asked.
if [ "$fast" = false ] && [ "$#" -eq 0 ] && [ -z "${TEST_REDIS_URL:-}" ]; then
  echo "==> pytest, three parts side by side: the tests that start processes (here), the fault"
  echo "    drill's and the others (each shown when it ends)"
  drill_log=$(mktemp)
  quick_log=$(mktemp)
  set +e
  TEST_REDIS_URL="redis://127.0.0.1:6379/$((1 + $$ % 5))" "$PY" -m pytest -m "not slow" \
    -p no:cacheprovider >"$quick_log" 2>&1 &
  quick=$!
  TEST_REDIS_URL="redis://127.0.0.1:6379/$((6 + $$ % 5))" "$PY" -m pytest -m slow tests/test_drill.py \
    -p no:cacheprovider >"$drill_log" 2>&1 &
  drill=$!
  trap 'kill "$quick" "$drill" 2>/dev/null' INT TERM  # Ctrl-C stops the parts in the background too
  TEST_REDIS_URL="redis://127.0.0.1:6379/$((11 + $$ % 5))" "$PY" -m pytest -m slow \
    --ignore=tests/test_drill.py -p no:cacheprovider
  slow_status=$?
  wait "$drill"
  drill_status=$?
  wait "$quick"
  quick_status=$?
  set -e
  echo "==> pytest -m slow tests/test_drill.py (run side by side)"
  cat "$drill_log"
  echo "==> pytest -m 'not slow' (run side by side)"
  cat "$quick_log"
  rm -f "$drill_log" "$quick_log"
  status=0
  checked "$slow_status" "-m slow" || status=1
  checked "$drill_status" "the fault drill" || status=1
  checked "$quick_status" "-m 'not slow'" || status=1
  exit "$status"
fi

echo "==> pytest"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
checked "$status"
