"""The pure core's boundary: classify (rules/) and decide (decide/) judge a snapshot they are given and never call a
service, open the store or touch the web while they judge. That holds as long as nothing they import, directly or
through the modules they import, is an adapter (clients/), observe, the store, the act room or the web. This walks
their source with `ast` (every import statement, also inside functions and `if TYPE_CHECKING:` blocks) and follows
the package's own modules transitively, so a shortcut added anywhere in the chain is caught."""

from __future__ import annotations

import ast
from pathlib import Path

import qbittorrent_monitor

PACKAGE = "qbittorrent_monitor"
ROOT = Path(qbittorrent_monitor.__file__).resolve().parent
CORE = ("decide", "rules")
# What the pure core may reach inside the package: its own modules and the data it judges with.
ALLOWED = {f"{PACKAGE}.model", f"{PACKAGE}.config", f"{PACKAGE}.apps"}
# Outside the package: nothing that talks to a network, a database, a process or a web framework.
FORBIDDEN_LIBRARIES = {"httpx", "sqlite3", "socket", "subprocess", "urllib.request", "http", "uvicorn", "starlette"}
FORBIDDEN_LIBRARIES |= {"jinja2", "apprise", "filelock", "requests", "threading", "asyncio", "docker"}


def _path_of(module: str) -> Path | None:
    parts = module.split(".")[1:]
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def imports_of(module: str) -> set[str]:
    path = _path_of(module)
    assert path is not None, module
    return imports_in(path.read_text(), module, is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module an import statement of `module` names, as absolute names (`from . import x` names `pkg.x` when
    x is a module). Dynamic imports (`importlib.import_module`, `__import__`) are refused outright."""
    tree = ast.parse(source, module)
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            for alias in node.names:  # `from .. import clients`: the submodule itself is imported
                if base.startswith(PACKAGE) and _path_of(f"{base}.{alias.name}") is not None:
                    found.add(f"{base}.{alias.name}")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            assert name not in ("import_module", "__import__"), f"{module}: a dynamic import hides what it reaches"
    return found


def reachable_from(roots: list[str]) -> tuple[set[str], set[str]]:
    """The package's modules the roots reach (importing a module runs its parent packages too), and the outside
    modules they name."""
    seen: set[str] = set()
    outside: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # the parent packages' __init__
        for name in imports_of(module):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                todo.append(name)
            else:
                outside.add(name)
    return seen, outside


def core_modules() -> list[str]:
    return sorted(_module_of(p) for part in CORE for p in (ROOT / part).rglob("*.py"))


def test_the_core_is_every_module_of_decide_and_rules() -> None:
    modules = core_modules()
    # The walk must start from real files, or it would prove nothing: the outage guard and a rule of each kind.
    assert f"{PACKAGE}.decide.guards.outage" in modules and f"{PACKAGE}.rules.tracker" in modules
    assert len(modules) >= 15


def test_decide_and_rules_reach_no_client_observe_store_act_or_web_module() -> None:
    reached, outside = reachable_from(core_modules())
    core = {m for m in reached if m.split(".")[1] in CORE}
    beyond = reached - core - ALLOWED - {PACKAGE}
    assert beyond == set(), f"the pure core reaches {sorted(beyond)}: it must be given facts, not fetch them"
    libraries = {name for name in outside if name in FORBIDDEN_LIBRARIES or name.split(".")[0] in FORBIDDEN_LIBRARIES}
    assert libraries == set(), f"the pure core imports {sorted(libraries)}"


def test_the_walk_sees_an_adapter_import_in_any_form_and_anywhere_it_is_written() -> None:
    """The checker itself: each form a shortcut could take, written inside a function or a TYPE_CHECKING block of a
    decide module, is resolved to the module it reaches."""
    forms = {
        "from ..clients import ServiceError": f"{PACKAGE}.clients",
        "from .. import store": f"{PACKAGE}.store",
        "from ..clients.arr import ArrClient": f"{PACKAGE}.clients.arr",
        "from ...web import app": f"{PACKAGE}.web.app",
        "import qbittorrent_monitor.observe": f"{PACKAGE}.observe",
    }
    for statement, reached in forms.items():
        module = f"{PACKAGE}.decide.guards.cap" if statement.startswith("from ...") else f"{PACKAGE}.decide.repair"
        inside_a_function = f"def f() -> None:\n    {statement}\n"
        type_only = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {statement}\n"
        for source in (inside_a_function, type_only):
            assert reached in imports_in(source, module), (statement, source)
    in_a_package = imports_in("from .facts import CycleFacts", f"{PACKAGE}.decide", is_package=True)
    assert f"{PACKAGE}.decide.facts" in in_a_package
