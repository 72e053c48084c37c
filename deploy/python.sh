# Sourced by the other scripts: finds a Python >= 3.12 (Django 6 needs it) and prepares .venv.
# Sets PY (the venv's python). Installs requirements.txt again only when it changed.

find_python() {
  local candidates=("${PYTHON:-}" python3.14 python3.13 python3.12 python3)
  local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  for v in "$pyenv_root"/versions/3.1[2-9]*; do candidates+=("$v/bin/python3"); done
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    local base
    base=$(find_python) || { echo "error: Python 3.12 or newer is needed (Django 6); set PYTHON=/path/to/python3.12" >&2; exit 1; }
    echo "==> creating .venv with $base ($("$base" --version))"
    rm -rf .venv
    "$base" -m venv .venv
  fi
  PY=.venv/bin/python
  local stamp=.venv/.requirements.sha256 want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing requirements.txt into .venv"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
  fi
  # numba compiles the battle engine's small battles (combat.compiled) once per machine and keeps
  # the code in combat/__pycache__: here (about 10 s the first time, 1 s after), not in a worker's
  # first battle or in a test
  "$PY" -c 'from combat import compiled; took = compiled.warm_up(); took > 3 and print(f"==> compiled the battle engine (numba) in {took:.0f} s")'
}

# Start a local redis-server on 127.0.0.1:PORT when nothing answers there and the binary exists.
ensure_redis() {
  local port="${1:-6379}"
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    echo "error: nothing answers on 127.0.0.1:$port and redis-server is not installed (apt-get install redis-server)" >&2
    return 1
  fi
  echo "==> starting redis-server on 127.0.0.1:$port"
  mkdir -p .run
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/.run" --logfile "$PWD/.run/redis-$port.log" --pidfile "$PWD/.run/redis-$port.pid"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "error: redis-server did not come up on 127.0.0.1:$port; see .run/redis-$port.log" >&2
  return 1
}
