# Shared by `make run`, `make test` and .ci/run. Every step is idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# venv_install REQUIREMENTS_FILE: a virtual environment with exactly what the file pins.
venv_install() {
  local req="$1" stamp
  if [ ! -x "$PY" ]; then
    log "creating the virtual environment in .venv"
    python3 -m venv "$VENV"
  fi
  local hash; hash="$(cat "$ROOT"/requirements*.txt | sha256sum | cut -c1-16)"
  stamp="$VENV/.installed-$(basename "$req")-$hash"
  # requirements-test.txt includes requirements.txt: after `make test`, `make run` installs nothing.
  if [ "$req" = requirements.txt ] && [ -f "$VENV/.installed-requirements-test.txt-$hash" ]; then
    return 0
  fi
  if [ ! -f "$stamp" ]; then
    log "installing $(basename "$req") into .venv"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$req"
    touch "$stamp"
  fi
}

# apt_ensure COMMAND PACKAGE...: install Debian packages when COMMAND is missing.
apt_ensure() {
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  log "installing $* from Debian"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ ! -f /tmp/.portal-apt-updated ]; then
    $sudo apt-get update -qq && touch /tmp/.portal-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Start the machine's PostgreSQL and Redis when they are not running (never stop them).
ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
}
