#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, a virtualenv with the pinned dependencies,
# lint, type check, tests, then the container image. README and .ci/run call exactly this.
# Stages (each named and timed): setup, lint, types, tests, image. Arguments go to the `tests` stage's pytest;
# with arguments the image stage is left out (run it alone with `.venv/bin/pytest -m image`).
set -euo pipefail
cd "$(dirname "$0")/.."

STAGES=()
stage_start=0
current=""
begin() {
  current="$1"
  stage_start=$SECONDS
  echo "=== stage: $current ===" >&2
}
end() {
  local took=$((SECONDS - stage_start))
  STAGES+=("$current ${took}s")
  echo "=== stage $current done in ${took}s ===" >&2
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""
apt_install() {
  echo "installing $* with apt" >&2
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

begin setup
need_apt=()
command -v qbittorrent-nox >/dev/null 2>&1 || need_apt+=(qbittorrent-nox)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt_install "${need_apt[@]}"
fi
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
mkdir -p .cache
rm -f .cache/junit-tests.xml .cache/junit-image.xml
end

begin lint
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/hadolint Dockerfile
.venv/bin/actionlint
end

begin types
.venv/bin/mypy
end

begin tests
.venv/bin/pytest -q --junitxml=.cache/junit-tests.xml "$@"
end

if [ $# -eq 0 ]; then
  begin image
  need_apt=()
  command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
  if [ ${#need_apt[@]} -gt 0 ]; then
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
      echo "cannot install ${need_apt[*]} (not root, no sudo): the image tests will skip" >&2
    else
      # buildah's recommended packages bring the storage and network helpers it expects
      echo "installing ${need_apt[*]} with apt" >&2
      [ -n "$apt_updated" ] || $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
    fi
  fi
  .venv/bin/pytest -q -m image --junitxml=.cache/junit-image.xml tests/integration/test_image.py
  end
fi

echo "stages: ${STAGES[*]}" >&2
# One closing line for the whole run, from pytest's own reports of the test stages.
.venv/bin/python - .cache/junit-tests.xml .cache/junit-image.xml <<'EOF'
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
passed = totals["tests"] - failed - totals["skipped"]
print(f"total: {passed} passed, {failed} failed, {totals['skipped']} skipped")
EOF
