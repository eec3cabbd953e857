"""Imports run one way: web -> talk -> terminal -> sandbox, and labsteps never reaches up.

Read from the source with ast, so an import inside a function counts as much as one at the
top. labsteps' own top-level modules (config, errors) are the base every part may use; they
use none of the parts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("web", "labsteps.talk", "labsteps.terminal", "labsteps.sandbox")
BASE = "labsteps (config, errors...)"
# What each part may import of the project, itself and the base aside.
MAY_IMPORT = {
    "web": {"labsteps.talk", "labsteps.terminal", "labsteps.sandbox"},
    "labsteps.talk": {"labsteps.terminal", "labsteps.sandbox"},
    "labsteps.terminal": {"labsteps.sandbox"},
    "labsteps.sandbox": set(),
    BASE: set(),
}
WEB_ONLY = ("flask", "flask_sock", "werkzeug", "simple_websocket", "jinja2")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, wherever it stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(), package, str(path))


def imports_in(source: str, package: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) of every import in source, a module of package; `from a import b`
    counts as a.b when b is a module of the project, else as a."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package upwards
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = (ROOT / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT / sub.replace(".", "/")).is_dir()
                found.append((node.lineno, sub if is_module else base))
    return found


def part_of(module: str) -> str | None:
    """The part a module of the project belongs to; None for anything else."""
    for part in PARTS:
        if module == part or module.startswith(part + "."):
            return part
    if module == "labsteps" or module.startswith("labsteps."):
        return BASE
    return None


def sources() -> list[Path]:
    return sorted(p for d in ("web", "labsteps") for p in (ROOT / d).rglob("*.py"))


def test_the_reader_sees_imports_inside_functions_and_relative_ones():
    source = ("import os\n"
              "def f():\n    from labsteps.terminal import pty\n    import flask\n"
              "class C:\n    def g(self):\n        from . import cgroup\n"
              "        from ..talk.loader import LANGS\n")
    assert sorted(m for _, m in imports_in(source, "labsteps.sandbox")) == [
        "flask", "labsteps.sandbox.cgroup", "labsteps.talk.loader", "labsteps.terminal.pty",
        "os"]


def test_every_module_belongs_to_a_part_or_the_base():
    assert all(part_of(module_name(p)) is not None for p in sources())
    assert {part_of(module_name(p)) for p in sources()} == set(MAY_IMPORT)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path: Path):
    mine = part_of(module_name(path))
    wrong = []
    for line, module in imports(path):
        theirs = part_of(module)
        if theirs in (None, mine, BASE):  # not ours, its own part, or the base
            continue
        if theirs not in MAY_IMPORT[mine]:
            wrong.append(f"{path.name}:{line} imports {module} ({mine} may not use {theirs})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", [p for p in sources() if module_name(p).startswith("labsteps")],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_labsteps_knows_nothing_of_the_web(path: Path):
    wrong = [f"{path.name}:{line} imports {module}" for line, module in imports(path)
             if module.split(".")[0] in (*WEB_ONLY, "web")]
    assert not wrong, "\n".join(wrong)
