"""Every name a lazy import takes from the monitor exists.

An import inside a function runs only when that function does (the default link probe of
the scheduler runs only when a configuration has command-centre links), so a name renamed
or moved away breaks it silently until then.  This reads every ``from ... import`` of
monitor/ that sits inside a function and checks that the module has the name, or that the
name is a submodule."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lazy_imports() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        rel = path.relative_to(ROOT)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        else:
            parts = parts[:-1]
        package = ".".join(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.ImportFrom):
                    continue
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "monitor":
                    continue
                found += [(str(rel), node.lineno, module, a.name) for a in node.names]
    return found


def test_the_reader_finds_lazy_imports():
    modules = {(f, m) for f, _, m, _ in _lazy_imports()}
    assert ("monitor/checks.py", "monitor.probes.base") in modules
    assert len(modules) > 20


def test_every_lazily_imported_name_exists():
    missing = []
    for rel, line, module, name in _lazy_imports():
        mod = importlib.import_module(module)
        if hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}") is not None:
            continue
        missing.append(f"{rel}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)
