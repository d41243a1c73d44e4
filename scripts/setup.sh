#!/usr/bin/env bash
# Set up Vectra on a fresh Debian 12 machine with Python 3.11: system packages (Chromium, Node.js/npm,
# python3-venv, a C compiler, PostgreSQL for the deployment tests), the virtualenv with the exact pins of requirements.lock, the browser's
# socket.io-client and the compiled price replay.
# Idempotent and quick the second time: each step is skipped when what it makes is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

PYTHON=${PYTHON:-python3}
UV_VERSION=0.13.9
SOCKET_IO_CLIENT=socket.io-client@4.8.1

# 1. System packages, only those missing.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/include/stdint.h ] || missing+=(libc6-dev)  # gcc only recommends the C library's headers
# PostgreSQL for the deployment tests (tests/deploy start their own throwaway server; the system one is not used).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python environment, re-synced only when the pins change.
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Vectra needs Python >= 3.11 (found $("$PYTHON" --version)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || { say "creating .venv"; "$PYTHON" -m venv .venv; }
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
stamp=.venv/.vectra-pins
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (requirements.lock)"
  .venv/bin/uv pip sync -q --python .venv/bin/python requirements.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
  echo "$want" > "$stamp"
fi

# 3. The real socket.io-client for the simulator's play page (served by the simulator, never committed).
if [ ! -f .cache/npm/node_modules/socket.io-client/dist/socket.io.min.js ]; then
  say "installing $SOCKET_IO_CLIENT"
  npm install -s --no-package-lock --no-audit --no-fund --prefix .cache/npm "$SOCKET_IO_CLIENT" >/dev/null
fi

# 4. The compiled price replay (C loaded with ctypes, no Python headers), rebuilt only when its source changes;
#    without it prices replay in pure Python, ~50x slower.
.venv/bin/python -m capture_agent.protocol._price_replay | while read -r line; do say "$line"; done

say "ready"
