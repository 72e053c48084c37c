#!/usr/bin/env bash
# Set up and run the whole game on this machine: `make run`.
# .venv + requirements, migrations, then web (runserver on WEB_BIND, default 127.0.0.1:8000), one
# worker and the scheduler together; Ctrl-C stops all three. SQLite unless DATABASE_URL is set;
# Redis at REDIS_URL (default localhost:6379 db 0), started here when nothing answers and
# redis-server is installed. Each variable may come from the environment or from .env.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/python.sh
ensure_venv

# Local development: a .env with DEBUG on, so that manage.py commands typed in another terminal
# (create_player, seed_galaxy ...) work too. An existing .env is never written over; one without
# any DEBUG line (say, written by hand with REDIS_URL alone) gets DEBUG=true added at its end.
if [ ! -f .env ]; then
  printf '# Written by `make run` for local development. Production sets its own environment.\nDEBUG=true\n' > .env
  echo "==> wrote .env (DEBUG=true) for local development"
elif ! grep -q '^DEBUG=' .env; then
  printf '\n# Added by `make run` for local development.\nDEBUG=true\n' >> .env
  echo "==> added DEBUG=true to .env for local development"
fi
export DEBUG="${DEBUG:-true}"

# A variable from the environment, else from .env (which Django reads too), else the default.
setting() {
  local value="${!1:-}"
  if [ -z "$value" ] && [ -f .env ]; then
    value=$(sed -n "s/^$1=//p" .env | tail -1)
  fi
  echo "${value:-$2}"
}
WEB_BIND=$(setting WEB_BIND 127.0.0.1:8000)
GAME_SPEED=$(setting GAME_SPEED 1)

# A quick round (GAME_SPEED well above 1) would still resolve probes only once a minute: the
# periodic probe:update keeps its pace unless PROBE_UPDATE_INTERVAL is set. Scale it down too.
if [ -z "$(setting PROBE_UPDATE_INTERVAL "")" ]; then
  interval=$(awk -v speed="$GAME_SPEED" 'BEGIN { i = int(60 / speed + 0.5); print (i < 1 ? 1 : i) }')
  if [ "$interval" != 60 ]; then
    export PROBE_UPDATE_INTERVAL="$interval"
    echo "==> GAME_SPEED=$GAME_SPEED: probes resolve every $interval s (PROBE_UPDATE_INTERVAL; set it to choose)"
  fi
fi
if [ -z "${REDIS_URL:-}${REDIS_HOST:-}${REDIS_SENTINELS:-}" ] && ! grep -qE '^REDIS_(URL|HOST|SENTINELS)=' .env; then
  ensure_redis 6379
fi

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_galaxy >/dev/null 2>&1 || true
# Where the game keeps its data, so that a Redis shared with other software is noticed.
"$PY" manage.py shell --verbosity 0 -c "from galactic.events.cli import startup_summary; print(startup_summary())"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM EXIT

"$PY" manage.py rqworker game_events & pids+=($!)
"$PY" manage.py rqscheduler & pids+=($!)
"$PY" manage.py runserver "$WEB_BIND" & pids+=($!)
echo "==> web http://$WEB_BIND/ (health: /health, admin: /admin/); Ctrl-C stops web, worker and scheduler"
wait -n
