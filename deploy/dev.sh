#!/usr/bin/env bash
# Set up and run the whole game on this machine: `make run`.
# .venv + requirements, migrations, then web (runserver :8000), one worker and the scheduler
# together; Ctrl-C stops all three. SQLite unless DATABASE_URL is set; Redis at REDIS_URL
# (default localhost:6379), started here when nothing answers and redis-server is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/python.sh
ensure_venv

# Local development: a .env with DEBUG on, so that manage.py commands typed in another terminal
# (create_player, seed_galaxy ...) work too. Never written over an existing .env.
if [ ! -f .env ]; then
  printf '# Written by `make run` for local development. Production sets its own environment.\nDEBUG=true\n' > .env
  echo "==> wrote .env (DEBUG=true) for local development"
fi
export DEBUG="${DEBUG:-true}"
export GAME_SPEED="${GAME_SPEED:-1}"
if [ -z "${REDIS_URL:-}${REDIS_HOST:-}" ]; then ensure_redis 6379; fi

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_galaxy >/dev/null 2>&1 || true

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM EXIT

"$PY" manage.py rqworker game_events --with-scheduler & pids+=($!)
"$PY" manage.py rqscheduler & pids+=($!)
"$PY" manage.py runserver "${WEB_ADDR:-127.0.0.1:8000}" & pids+=($!)
echo "==> web http://${WEB_ADDR:-127.0.0.1:8000}/ (health: /health, admin: /admin/); Ctrl-C stops web, worker and scheduler"
wait -n
