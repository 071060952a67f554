#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, a virtualenv with the pinned dependencies, then named,
# timed stages. README and .ci/run call exactly this.
#
#   setup           apt packages the suite needs, the virtualenv
#   lint            ruff, ruff format, hadolint (Dockerfile), actionlint (.github/workflows), and
#                   scripts/check_wheels.py: each runtime dependency has a wheel for amd64, arm64 and armv7 or the
#                   Dockerfile's build stage builds it (skipped, saying so, when the package index cannot be reached)
#   types           mypy --strict
#   tests           every unit and integration test against Debian 12's qbittorrent-nox 4.5.2
#   qbittorrent-5x  the integration suite again, against real qbittorrent-nox 5.1.0 and 5.3.0, fetched from the
#                   Debian archive by scripts/fetch_qbittorrent.py and cached in .cache/qbittorrent/ (a version
#                   that cannot be fetched skips its tests with the reason)
#   image           the container image, built with buildah and run (tests/integration/test_image.py)
#   browser         the dashboard in Debian's headless Chromium, driven by Playwright (no browser download)
#
#   bash scripts/test.sh                  every stage, in that order (what CI runs)
#   bash scripts/test.sh STAGE [ARGS...]  setup, then one stage; ARGS go to its pytest
#   bash scripts/test.sh [ARGS...]        setup, lint, types and tests, ARGS to pytest (e.g. -x tests/unit)
set -euo pipefail
cd "$(dirname "$0")/.."

STAGES=(lint types tests qbittorrent-5x image browser)
QBT_5X_VERSIONS="5.1.0,5.3.0"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""
apt_install() {  # apt_install [--recommends] PACKAGE...
  local recommends="--no-install-recommends"
  if [ "$1" = "--recommends" ]; then recommends=""; shift; fi
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "cannot install $* (not root, no sudo): the tests that need it will say so" >&2
    return 0
  fi
  echo "installing $* with apt" >&2
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $recommends "$@" >/dev/null
}
missing() {
  local out=() c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || out+=("$c"); done
  echo "${out[@]}"
}

stage_setup() {
  local need
  need=$(missing qbittorrent-nox)
  [ -z "$need" ] || apt_install $need
  PY="${PYTHON:-python3}"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  mkdir -p .cache
  rm -f .cache/junit-*.xml
}

stage_lint() {
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/hadolint Dockerfile
  .venv/bin/actionlint
  .venv/bin/python scripts/check_wheels.py
}

stage_types() {
  .venv/bin/mypy
}

# Two workers (pytest-xdist): the integration tests mostly wait on qBittorrent, each worker has its own instances.
WORKERS="${TEST_WORKERS:-2}"

stage_tests() {
  .venv/bin/pytest -q -n "$WORKERS" --junitxml=.cache/junit-tests.xml "$@"
}

stage_qbittorrent-5x() {
  # Fetch (or find cached) first, so the log says where each binary came from; a failure here is not fatal: the
  # tests of that version then skip with the same reason.
  .venv/bin/python scripts/fetch_qbittorrent.py ${QBT_5X_VERSIONS//,/ } || true
  .venv/bin/pytest -q -n "$WORKERS" tests/integration -m "not image and not browser" --qbt-version="$QBT_5X_VERSIONS" \
    --junitxml=.cache/junit-qbittorrent-5x.xml "$@"
}

stage_image() {
  local need
  need=$(missing buildah debootstrap)
  # buildah's recommended packages bring the storage and network helpers it expects
  [ -z "$need" ] || apt_install --recommends $need
  .venv/bin/pytest -q -m image --junitxml=.cache/junit-image.xml tests/integration/test_image.py "$@"
}

stage_browser() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,browser]'
  .venv/bin/pytest -q -s -m browser --junitxml=.cache/junit-browser.xml "$@"
}

summary=()
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

totals() {  # one closing line for the whole run, from pytest's own reports
  .venv/bin/python - .cache/junit-*.xml <<'PY'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for name in sys.argv[1:]:
    if Path(name).exists():
        for suite in ET.parse(name).getroot().iter("testsuite"):
            for key in totals:
                totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
print(f"total: {totals['tests'] - failed - totals['skipped']} passed, {failed} failed, {totals['skipped']} skipped")
PY
}

run_stage setup
failed=0
if [ $# -gt 0 ] && [[ " ${STAGES[*]} " == *" $1 "* ]]; then
  stage="$1"
  shift
  run_stage "$stage" "$@" || failed=1
elif [ $# -gt 0 ]; then
  for stage in lint types; do run_stage "$stage" || failed=1; done
  run_stage tests "$@" || failed=1
else
  for stage in "${STAGES[@]}"; do
    run_stage "$stage" || failed=1
  done
fi
printf '%s\n' "${summary[@]}" >&2
totals >&2
exit $failed
