"""Does every runtime dependency install from a wheel on every platform the image is built for?

Lists each package the monitor needs at run time (resolved with the project's pins for the image's Python, the one
in the Dockerfile's `ARG BASE`) and, for each platform of .github/workflows/image.yml, whether the package index has
a wheel for it: `pure` (one py3-none-any wheel for every platform), `wheel` (a platform wheel), or `BUILT` (no wheel:
the Dockerfile's build stage builds one from the sdist, as FROM_SOURCE below says how). A package with no wheel for
a platform and no entry in FROM_SOURCE fails the check: that platform's image build would need a compiler it does
not have. It asks the index with pip itself (`pip install --dry-run --report`, `pip download --only-binary=:all:
--platform ...`); when the index cannot be reached it says so and exits 0 (offline machines are not a failure).

    python scripts/check_wheels.py          # the table, exit 1 on a dependency no platform build can install
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOW = ROOT / ".github" / "workflows" / "image.yml"

# Docker platform -> the machine name in wheel tags (what `uname -m` says in that image).
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}
GLIBC_MINOR = 36  # Debian 12 (bookworm), the base of python:3.X-slim-bookworm: manylinux_2_17 ... 2_36 all install


@dataclass(frozen=True)
class FromSource:
    """A dependency the build stage builds from its sdist where the index has no wheel, and how."""

    how: str
    dockerfile_marker: str  # the text in the Dockerfile's build stage that makes it build this way
    build_requires: tuple[str, ...]  # its sdist's [build-system] requires: they must install there as wheels


FROM_SOURCE = {
    # PyYAML 6.0.3 has no armv7l wheel. Without libyaml its build is its own pure-Python fallback (the C extension
    # is optional: PYYAML_FORCE_LIBYAML=0 skips it, so no compiler and no libyaml-dev are needed, and the runtime
    # needs no libyaml-0-2). The monitor reads only its own small configuration files with it: no C speed-up needed.
    "pyyaml": FromSource(
        how="its pure-Python fallback (PYYAML_FORCE_LIBYAML=0: no compiler, no libyaml)",
        dockerfile_marker="PYYAML_FORCE_LIBYAML=0",
        build_requires=("setuptools", "Cython"),  # pyyaml-6.0.3/pyproject.toml
    ),
}

# What pip prints when it could not reach the index at all (as opposed to: it answered, without that file).
UNREACHABLE = re.compile(
    r"NewConnectionError|Max retries exceeded|Network is unreachable|Temporary failure in name resolution"
    r"|Name or service not known|Connection refused|ProxyError|ConnectTimeout|Read timed out|Could not fetch URL"
)


class IndexUnreachable(Exception):
    pass


def image_python() -> str:
    """`3.12` from `ARG BASE=python:3.12-slim-bookworm`."""
    m = re.search(r"^ARG BASE=python:(\d+\.\d+)-", DOCKERFILE.read_text(), re.M)
    if not m:
        raise SystemExit("the Dockerfile's ARG BASE is not python:X.Y-...: say here which Python the image has")
    return m.group(1)


def image_platforms() -> list[str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    for job in doc["jobs"].values():
        for step in job["steps"]:
            platforms = (step.get("with") or {}).get("platforms")
            if platforms:
                return [p.strip() for p in str(platforms).split(",")]
    raise SystemExit(f"no `platforms:` in {WORKFLOW}")


def build_stage() -> str:
    """The Dockerfile's text from `FROM ... AS build` to the next FROM."""
    text = DOCKERFILE.read_text()
    m = re.search(r"^FROM \S+ AS build$(.*?)^FROM ", text, re.M | re.S)
    if not m:
        raise SystemExit("the Dockerfile has no `FROM ... AS build` stage")
    return m.group(1)


def runtime_requirements() -> list[str]:
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def platform_args(machine: str) -> list[str]:
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    tags += [f"manylinux2014_{machine}"]
    if machine == "x86_64":
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    tags += [f"linux_{machine}"]
    return [arg for tag in tags for arg in ("--platform", tag)]


def python_args(python: str) -> list[str]:
    short = python.replace(".", "")
    return ["--python-version", python, "--implementation", "cp", "--abi", f"cp{short}", "--abi", "abi3"]


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def probe(requirement: str) -> None:
    """Raise IndexUnreachable when pip cannot reach the index at all (pip says why only at -vv: "Could not fetch
    URL ...: connection error ... - skipping", then "No matching distribution", as for a missing file)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = pip("download", "-vv", "--no-deps", "--only-binary=:all:", "--dest", tmp, requirement)
    if result.returncode != 0:
        output = result.stderr + result.stdout
        unreachable = UNREACHABLE.search(output)
        if unreachable:
            line = next(x for x in output.splitlines() if unreachable.group(0) in x)
            raise IndexUnreachable(line.strip()[:400])


def resolve(python: str, machine: str) -> dict[str, tuple[str, str]]:
    """name -> (version, wheel file name) of every runtime dependency, as pip resolves them for that platform."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        result = pip(
            "install",
            "--dry-run",
            "--ignore-installed",
            "--only-binary=:all:",
            *python_args(python),
            *platform_args(machine),
            "--target",
            str(Path(tmp) / "target"),
            "--report",
            str(report),
            *runtime_requirements(),
        )
        if result.returncode != 0:
            raise SystemExit(f"pip could not resolve the runtime dependencies for {machine}:\n{result.stderr}")
        doc = json.loads(report.read_text())
    out = {}
    for item in doc["install"]:
        name = canonicalize_name(item["metadata"]["name"])
        out[name] = (item["metadata"]["version"], item["download_info"]["url"].rsplit("/", 1)[-1])
    return out


def has_wheel(requirement: str, python: str, machine: str) -> str | None:
    """The wheel file the index has for this platform, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        result = pip(
            "download",
            "--no-deps",
            "--only-binary=:all:",
            *python_args(python),
            *platform_args(machine),
            "--dest",
            tmp,
            requirement,
        )
        if result.returncode != 0:
            return None
        files = [p.name for p in Path(tmp).glob("*.whl")]
        return files[0] if files else None


def is_pure(wheel: str) -> bool:
    _, _, _, tags = parse_wheel_filename(wheel)
    return all(t.abi == "none" and t.platform == "any" for t in tags)


def check() -> tuple[list[str], list[str]]:
    """(the table's lines, the problems)."""
    python, platforms = image_python(), image_platforms()
    unknown = [p for p in platforms if p not in MACHINES]
    if unknown:
        raise SystemExit(f"the workflow builds for {unknown}: add their wheel machine names to MACHINES")
    stage = build_stage()
    probe(runtime_requirements()[0])
    closure = resolve(python, MACHINES[platforms[0]])
    lines = [f"runtime dependencies of the image (Python {python}), per platform of the image workflow:"]
    lines.append(f"  {'package':<28}{'version':<20}" + "".join(f"{p:<16}" for p in platforms))
    problems: list[str] = []
    built: list[str] = []
    for name, (version, wheel) in sorted(closure.items()):
        cells = []
        for platform in platforms:
            if is_pure(wheel):
                cells.append("pure")
                continue
            found = wheel if platform == platforms[0] else has_wheel(f"{name}=={version}", python, MACHINES[platform])
            if found:
                cells.append("pure" if is_pure(found) else "wheel")
                continue
            cells.append("BUILT")
            source = FROM_SOURCE.get(name)
            if source is None:
                problems.append(
                    f"{name} {version} has no wheel for {platform} (Python {python}) and is not in FROM_SOURCE: "
                    "that image build would compile it without a compiler. Pin a version with a wheel, or build it "
                    "in the Dockerfile's build stage and say how in scripts/check_wheels.py"
                )
                continue
            if source.dockerfile_marker not in stage:
                problems.append(
                    f"{name} is to be built as {source.how}, but the Dockerfile's build stage lacks "
                    f"{source.dockerfile_marker!r}"
                )
            for req in source.build_requires:
                if not has_wheel(req, python, MACHINES[platform]):
                    problems.append(f"{name}'s build requirement {req} has no wheel for {platform} either")
            built.append(f"  {name} {version} on {platform}: built in the build stage, as {source.how}")
        lines.append(f"  {name:<28}{version:<20}" + "".join(f"{c:<16}" for c in cells))
    lines += built or ["  every dependency installs from the index's wheels on every platform"]
    return lines, problems


def main() -> int:
    try:
        lines, problems = check()
    except IndexUnreachable as e:
        print(f"check_wheels: skipped, the package index cannot be reached ({e})")
        return 0
    print("\n".join(lines))
    for problem in problems:
        print(f"check_wheels: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
