"""The shape of the code base, held by a tool rather than by memory (issue 13).

- no module over 400 lines;
- no import cycles between mlgen's modules (imports inside functions count too: a lazy import
  hides a cycle from the interpreter, not from a reader);
- `layout` and the `drift` package (the fast path of the pre-commit hook) import only the
  standard library and each other;
- the compile-time packages never import the runtime's commands, and the runtime never imports
  the compiler: they meet only in `layout` and in the command lines `compile.calls` writes.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mlgen"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str) -> set[str]:
    """mlgen modules `name` imports, anywhere but under `if TYPE_CHECKING:`."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_at_most_400_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(SRC.parent)} has {lines} lines; split it by idea"


def _cycle() -> list[str] | None:
    """One import cycle, or None (iterative depth-first search, colours white/grey/black)."""
    colour: dict[str, int] = {}
    for start in sorted(GRAPH):
        if colour.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(GRAPH[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if colour.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not colour.get(nxt):
                colour[nxt] = 1
                stack.append((nxt, sorted(GRAPH[nxt])))
                path.append(nxt)
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "mlgen.layout", {"mlgen.errors"})
    monkeypatch.setitem(GRAPH, "mlgen.errors", {"mlgen.layout"})
    assert _cycle() is not None


def _third_party(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    return {r for r in roots if r not in sys.stdlib_module_names and not r.startswith("_") and r != "mlgen"}  # `_sha2`: the builtin hash


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n == "mlgen.layout" or n.startswith("mlgen.drift")))
def test_fast_path_modules_need_only_the_standard_library(name: str) -> None:
    assert not _third_party(name), f"{name} imports {_third_party(name)}"
    inside = {m for m in GRAPH[name] if not (m == "mlgen.layout" or m.startswith("mlgen.drift") or m == "mlgen")}
    assert not inside, f"{name} imports {inside}: the pre-commit fast path must stay light"


COMPILE_SIDE = ("mlgen.spec.models", "mlgen.compile", "mlgen.targets")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_compiler_and_runtime_meet_only_in_layout(name: str) -> None:
    if name.startswith(COMPILE_SIDE):
        bad = {m for m in GRAPH[name] if m.startswith("mlgen.runtime.") and m.rsplit(".", 1)[0] not in
               ("mlgen.runtime", "mlgen.runtime.cache") and not m.endswith(".keyglob")}
        assert not bad, f"{name} (compile side) imports runtime commands {bad}"
    if name.startswith("mlgen.runtime"):
        bad = {m for m in GRAPH[name] if m.startswith(("mlgen.compile", "mlgen.targets"))}
        assert not bad, f"{name} (runtime) imports the compiler {bad}"


def test_every_registry_operation_has_its_help_and_flag() -> None:
    # The operations of a `command` registry are named once (runtime.settings.REGISTRY_OPERATIONS);
    # the CLI's help, the backend's flag table and the spec's templates follow that list.
    from mlgen.runtime import cli
    from mlgen.runtime.registry import command_backend
    from mlgen.runtime.settings import REGISTRY_OPERATIONS, command_flag
    from mlgen.spec.models import RegistryCommands

    assert set(cli.COMMAND_TEMPLATES) == set(REGISTRY_OPERATIONS)
    assert command_backend.FLAG == {op: command_flag(op) for op in REGISTRY_OPERATIONS}
    assert {f.alias or name for name, f in RegistryCommands.model_fields.items()} == set(REGISTRY_OPERATIONS)  # spec keys
    flags = {o for a in cli.build_parser()._actions for o in getattr(a, "option_strings", [])}
    sub = [p for a in cli.build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict)
           for p in a.choices.values()]
    flags |= {o for p in sub for a in p._actions for o in a.option_strings}
    nested = [q for p in sub for a in p._actions if isinstance(getattr(a, "choices", None), dict) for q in a.choices.values()]
    flags |= {o for q in nested for a in q._actions for o in a.option_strings}
    assert {command_flag(op) for op in REGISTRY_OPERATIONS} <= flags
