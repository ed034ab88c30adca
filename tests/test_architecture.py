"""The shape of the code base: the layers of monitor/ (docs/ARCHITECTURE.md, "Layers"), no
import circle, no file over 600 lines, tests sharing helpers through helper modules, and a
repository that carries its own reference.

The import graph is read from the source (every ``import`` and ``from ... import``, at any
depth: a lazy import inside a function is still a dependency), not from what happens to be
loaded at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "monitor"
MAX_LINES = 600

#: Files allowed over MAX_LINES while they are being split.  Empty: keep it so.
OVERSIZE_ALLOWED: set[str] = set()

WING = "wing"
#: Layer of each module or package (a package's entry covers its submodules).  Lower
#: layers never import higher ones; docs/ARCHITECTURE.md explains each.
LAYERS: dict[str, int | str] = {
    # 0: the shared vocabulary and the process's own plumbing
    "monitor": 0,  # the package itself
    "monitor.model": 0,
    "monitor.version": 0,
    "monitor.logsetup": 0,
    "monitor.resources": 0,
    "monitor.timebase": 0,
    # 1: probes
    "monitor.probes": 1,
    # 2: the check catalogue, configuration, state, maintenance windows, ledger
    "monitor.checks": 2,
    "monitor.config": 2,
    "monitor.state": 2,
    "monitor.maintenance": 2,
    "monitor.history": 2,
    # 3: what /metrics is made of
    "monitor.metrics": 3,
    # 4: what is shown: web endpoints and provider reports
    "monitor.web": 4,
    "monitor.report": 4,
    # 5: the running daemon
    "monitor.runtime": 5,
    # 6: commands
    "monitor.commands": 6,
    "monitor.__main__": 6,
    # the simulator: a separate wing
    "monitor.simulator": WING,
}
#: What the simulator may import from the monitor (besides itself).
WING_MAY_IMPORT = {"monitor", "monitor.model"}
TOP = 6


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        mods[".".join(parts)] = (path, is_pkg)
    return mods


MODULES = _modules()


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(name: str) -> set[str]:
    """Modules of the package that `name` imports, including the packages Python runs on the
    way (importing a.b.c runs a/__init__ and a/b/__init__).  Its own ancestors are loaded
    before it, so they count only when it names them: ``from . import State`` in a submodule
    depends on its package, and is a circle if the package imports that submodule."""
    path, is_pkg = MODULES[name]
    package = name if is_pkg else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    deps = set()
    own = set(_ancestors(name))
    for target in found:
        if target not in MODULES:
            continue
        deps.add(target)  # named: counts even when it is an ancestor
        deps.update(a for a in _ancestors(target) if a not in own)  # run on the way
    return {d for d in deps if d != name and d in MODULES}


GRAPH = {name: _imports(name) for name in MODULES}


def layer_of(name: str) -> int | str | None:
    if name in LAYERS:
        return LAYERS[name]
    for ancestor in reversed(_ancestors(name)):
        if ancestor != "monitor" and ancestor in LAYERS:
            return LAYERS[ancestor]
    return None


# --------------------------------------------------------------------------- the graph


def test_the_graph_sees_lazy_and_relative_imports():
    # Reading the graph wrong would make every other test here pass for nothing.
    assert "monitor.runtime.daemon" in GRAPH["monitor.commands.demo"]  # a function-level import
    assert "monitor.model" in GRAPH["monitor.probes.tcp"]  # from ..model import ...
    assert "monitor.probes" in GRAPH["monitor.runtime.checkrun"]  # the package a submodule runs
    assert "monitor.simulator.base" in GRAPH["monitor.simulator.rtsp_server"]
    # a submodule that names its own package: `from . import x` of a package's __init__
    assert "monitor.probes.base" in GRAPH["monitor.probes"]
    assert "monitor.probes" not in GRAPH["monitor.probes.base"]  # loaded first, not named
    assert len(MODULES) > 40


def test_every_module_has_a_layer():
    missing = sorted(name for name in MODULES if layer_of(name) is None)
    assert not missing, (
        f"{missing}: give each a layer in LAYERS (tests/test_architecture.py) and in the table "
        "of docs/ARCHITECTURE.md"
    )


def test_no_upward_import():
    upward = []
    for name, deps in GRAPH.items():
        mine = layer_of(name)
        for dep in deps:
            theirs = layer_of(dep)
            if WING in (mine, theirs):
                continue  # the wing's own rules, below
            if isinstance(mine, int) and isinstance(theirs, int) and theirs > mine:
                upward.append(f"{name} (layer {mine}) imports {dep} (layer {theirs})")
    assert not upward, "\n".join(sorted(upward))


def test_the_simulator_is_a_separate_wing():
    wrong = []
    for name, deps in GRAPH.items():
        if layer_of(name) == WING:
            wrong += [f"{name} imports {d}" for d in deps if layer_of(d) != WING and d not in WING_MAY_IMPORT]
        elif layer_of(name) != TOP:
            wrong += [f"{name} starts the simulator ({d})" for d in deps if layer_of(d) == WING]
    assert not wrong, "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert not _cycles(GRAPH), _cycles(GRAPH)


# --------------------------------------------------------------------------- private members


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_privates(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, globals, class attributes, fields
    and ``self._x = ...`` (or ``obj._x = ...``) assignments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ = ("_x", ...)
    return {n for n in names if _private(n)}


_TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path))
          for name, (path, _pkg) in MODULES.items()}
_DEFINED = {name: _defined_privates(tree) for name, tree in _TREES.items()}
#: every private name the package defines somewhere: what another module may not reach for
_OURS = set().union(*_DEFINED.values())


def private_access(name: str) -> list[str]:
    """Where module `name` reaches into a private member another module of the package
    defines: ``obj._x`` with obj not self/cls and `_x` not defined in this module, or
    ``from .mod import _x`` / ``mod._x`` of another module."""
    tree, mine = _TREES[name], _DEFINED[name]
    path = MODULES[name][0].relative_to(ROOT)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in _OURS and node.attr not in mine:
                found.append(f"{path}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name) and alias.name in _OURS:
                    found.append(f"{path}:{node.lineno}: import {alias.name}")
    return found


def test_the_private_access_finder_finds_it():
    # the circle reload_plan made: a plan reaching into State's internals from another module
    sample = ast.parse("def f(state):\n    return state._maps, self._own, cls._own2\n")
    names = {n.attr for n in ast.walk(sample) if isinstance(n, ast.Attribute)}
    assert names == {"_maps", "_own", "_own2"}
    assert "_evaluate" in _DEFINED["monitor.state"]
    assert "_evaluate" not in _DEFINED["monitor.runtime.scheduler"]


def test_no_module_reaches_into_another_modules_private_members():
    """Private means private to the module that defines it: another module asks through a
    public method, so that the owner can change its insides without breaking it."""
    found = [hit for name in sorted(MODULES) for hit in private_access(name)]
    assert not found, "\n".join(found)


# --------------------------------------------------------------------------- size


def test_no_file_in_monitor_is_over_600_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {f: n for f, n in sizes.items() if n > MAX_LINES and f not in OVERSIZE_ALLOWED}
    assert not over, f"split these by what they own: {over}"
    stale = {f for f in OVERSIZE_ALLOWED if sizes.get(f, 0) <= MAX_LINES}
    assert not stale, f"no longer over {MAX_LINES} lines, take them off OVERSIZE_ALLOWED: {stale}"


#: The hubs everything else talks to stay well under the limit: each owns one thing (State
#: the latest verdicts, the Scheduler when checks run), and what grows goes next to them.
HUBS = {"monitor/state/__init__.py": 350, "monitor/runtime/scheduler.py": 350}


@pytest.mark.parametrize("hub", sorted(HUBS))
def test_the_hubs_stay_small(hub):
    lines = len((ROOT / hub).read_text(encoding="utf-8").splitlines())
    assert lines < HUBS[hub], f"{hub}: {lines} lines; move what it does not own next to it"


# --------------------------------------------------------------------------- tests


def test_tests_share_helpers_through_helper_modules():
    """A test module imports helpers from tests/factories.py, artefacts.py, config_cases.py,
    rtsp_fakes.py, netns.py or conftest.py, never from another test module: importing one
    re-collects its tests' fixtures and couples unrelated suites."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                ours = node.level > 0 or node.module.split(".")[0] == "tests"
                if ours and node.module.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    assert not offenders, "\n".join(offenders)


def test_no_code_runs_between_fork_and_exec():
    """No `subprocess` pre-exec hook in the monitor, the tests or the benchmarks: Python code
    between fork and exec hangs the child (a futex never released) when the forking process
    has threads, which a test run always may (resolver and decode pools).  Limits go through
    `prlimit`, CPU affinity through `taskset`, a parent-death signal through the child itself.
    The needle is assembled so that this file does not match itself."""
    needle = "preexec" + "_fn"
    hits = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


# --------------------------------------------------------------------------- the repository

#: Where an outside pointer could hide: the docs, the code, the tests and the shipped files.
_TEXT_SUFFIXES = {".md", ".py", ".yml", ".yaml", ".toml", ".json", ".sh", ".txt", ".cfg"}
_SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}


def _repository_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if any(part in _SKIP_DIRS for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and (path.suffix in _TEXT_SUFFIXES or path.name in {"Dockerfile"}):
            files.append(path)
    return files


def test_nothing_points_outside_the_repository():
    # The needles are assembled so that this file does not match itself.
    needles = ["SPEC" + ".md", "../" + "shared/", "/work" + "/"]
    hits = []
    for path in _repository_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    assert not hits, "\n".join(sorted(hits))


_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_documentation_links_resolve_inside_the_repository(doc):
    path = ROOT / doc
    broken = []
    for target in _MD_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert not broken, f"{doc}: {broken}"


def test_the_readme_links_the_reference():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in ("docs/configuration.md", "docs/checks.md", "docs/ARCHITECTURE.md"):
        assert f"]({doc})" in readme, doc


def test_no_name_is_used_undefined():
    """A name used and never defined (an import dropped when code moved) raises NameError
    only when its line runs, which a test may never reach (a link probe's default, a
    verify path): pyflakes reads every file of the package and the tests for it."""
    from pyflakes import checker, messages

    found = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for m in checker.Checker(tree, filename=str(path.relative_to(ROOT))).messages:
            if isinstance(m, messages.UndefinedName):
                found.append(f"{m.filename}:{m.lineno}: {m.message % m.message_args}")
    assert not found, found
