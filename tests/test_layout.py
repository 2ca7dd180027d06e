"""The engine's layout: stage packages under roundtrip/, at most a dozen modules beside them, no import cycle
between modules (imports inside functions counted too), and no private name imported from another module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "roundtrip"


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) for each `from roundtrip... import name` in the file: the module a name is taken from
    (or the submodule imported, when the name is one).  Imports for type checking only do not count."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for n in ast.walk(block)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "roundtrip":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub, "") if sub in known else (node.module, alias.name))
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] == "roundtrip"]
    return out


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for after in sorted(graph.get(node, ())):
            if state.get(after) == 1:
                return stack[stack.index(after):] + [after]
            if after not in state and (found := visit(after)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_a_dozen_modules_at_most_beside_the_stage_packages() -> None:
    flat = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(flat) <= 12, flat
    assert {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} >= {
        "spec", "build", "convert", "run", "oracle", "finding", "search", "store", "report", "user"}


def test_no_import_cycle_between_modules() -> None:
    known = modules()
    graph = {name: {module for module, _ in imports(path, known) if module in known and module != name
                    and not name.startswith(f"{module}.")}  # a package's own __init__ is not a cycle
             for name, path in known.items()}
    assert cycle(graph) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    known = modules()
    private = [(name, module, taken) for name, path in known.items() for module, taken in imports(path, known)
               if taken.startswith("_") and not taken.startswith("__")]
    assert private == []
