#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, a virtualenv with the pinned dependencies,
# lint, type check, tests. README and .ci/run call exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v qbittorrent-nox >/dev/null 2>&1 || need_apt+=(qbittorrent-nox)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} with apt" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# Arguments go to pytest and run only that (e.g. `scripts/test.sh tests/unit -k config`); no argument: every stage.
if [ $# -gt 0 ]; then
  exec .venv/bin/pytest -q "$@"
fi

stage() { echo "== stage: $1" >&2; STAGE_START=$SECONDS; }
stage_done() { echo "== stage $1 passed in $((SECONDS - STAGE_START)) s" >&2; }

stage main
.venv/bin/pytest -q -m "not browser"
stage_done main

# The browser stage: the dashboard in Debian's headless Chromium, driven by Playwright (no browser download).
stage browser
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium with apt" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,browser]'
.venv/bin/pytest -q -s -m browser
stage_done browser
