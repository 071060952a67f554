#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, a virtualenv with the pinned dependencies,
# then named stages. README and .ci/run call exactly this.
#
#   fast            ruff, mypy, and every test against Debian 12's qbittorrent-nox 4.5.2
#   qbittorrent-5x  the integration suite again, against real qbittorrent-nox 5.1.0 and 5.3.0, fetched from
#                   the Debian archive by scripts/fetch_qbittorrent.py and cached in .cache/qbittorrent/
#                   (a version that cannot be fetched skips its tests with the reason)
#
#   bash scripts/test.sh                  every stage, in that order (what CI runs)
#   bash scripts/test.sh STAGE [ARGS...]  one stage; ARGS go to pytest
#   bash scripts/test.sh [ARGS...]        the fast stage, ARGS to pytest (e.g. -x tests/unit)
set -euo pipefail
cd "$(dirname "$0")/.."

STAGES=(fast qbittorrent-5x)
QBT_5X_VERSIONS="5.1.0,5.3.0"

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

stage_fast() {
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/mypy
  .venv/bin/pytest -q "$@"
}

stage_qbittorrent-5x() {
  # Fetch (or find cached) first, so the log says where each binary came from; a failure here is not fatal:
  # the tests of that version then skip with the same reason.
  .venv/bin/python scripts/fetch_qbittorrent.py ${QBT_5X_VERSIONS//,/ } || true
  .venv/bin/pytest -q tests/integration --qbt-version="$QBT_5X_VERSIONS" "$@"
}

run_stage() {
  local name="$1" started rc
  shift
  echo "=== stage $name ===" >&2
  started=$SECONDS
  set +e
  (set -e; "stage_$name" "$@")
  rc=$?
  set -e
  summary+=("stage $name: $([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - started)) s")
  echo "=== ${summary[-1]} ===" >&2
  return $rc
}

summary=()
if [ $# -gt 0 ] && [[ " ${STAGES[*]} " == *" $1 "* ]]; then
  stage="$1"
  shift
  run_stage "$stage" "$@"
elif [ $# -gt 0 ]; then
  run_stage fast "$@"
else
  failed=0
  for stage in "${STAGES[@]}"; do
    run_stage "$stage" || failed=1
  done
  printf '%s\n' "${summary[@]}" >&2
  exit $failed
fi
