"""scripts/check_wheels.py, the lint stage's check that every runtime dependency installs from a wheel on every
platform the image workflow builds (or is built in the Dockerfile's build stage as it says): the parts that need no
network. The check itself asks the package index (`bash scripts/test.sh lint`)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from daemon import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_wheels.py"


def check_wheels() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheels", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_it_reads_the_images_python_and_platforms_from_the_dockerfile_and_the_workflow() -> None:
    cw = check_wheels()
    assert cw.image_python() == "3.12"  # ARG BASE=python:3.12-slim-bookworm
    assert cw.image_platforms() == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert set(cw.image_platforms()) <= set(cw.MACHINES)


def test_every_dependency_said_to_be_built_from_source_is_built_so_in_the_build_stage_only() -> None:
    """PyYAML has no armv7l wheel: the build stage builds its pure-Python fallback, and the runtime stage only copies
    the virtualenv (it installs nothing, so it needs no compiler and no pip)."""
    cw = check_wheels()
    stage = cw.build_stage()
    assert "pyyaml" in cw.FROM_SOURCE
    for source in cw.FROM_SOURCE.values():
        assert source.dockerfile_marker in stage
    assert "--no-index --only-binary :all: --find-links /wheels" in stage  # the venv is installed from wheels only
    runtime = (ROOT / "Dockerfile").read_text().split(stage, 1)[1]
    assert "pip" not in runtime and "COPY --from=build /app /app" in runtime


def test_without_the_index_it_says_it_skipped_and_why_and_does_not_fail() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {
        "PIP_CONFIG_FILE": os.devnull,  # none of this machine's pip configuration (local indexes, find-links)
        "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple",  # nothing listens there
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "check_wheels: skipped, the package index cannot be reached" in result.stdout
    assert "Connection refused" in result.stdout or "NewConnectionError" in result.stdout
