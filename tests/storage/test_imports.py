"""Storage has no import cycle, not even one hidden by a function-local or TYPE_CHECKING import,
and wire (sans-IO) does no file I/O: the zero-copy seam reads files in storage, never in wire."""

from __future__ import annotations

import ast
import gc
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def module_graph(package: str, directory: Path) -> dict[str, set[str]]:
    """module -> modules of ``package`` it imports anywhere in its body (ast.walk sees nested,
    function-local and ``if TYPE_CHECKING:`` imports alike)."""
    names = {f"{package}.{p.stem}" if p.stem != "__init__" else package: p for p in directory.glob("*.py")}
    graph: dict[str, set[str]] = {}
    # CPython 3.11: a garbage collection inside ast.parse that runs finalizers (an earlier test's
    # transports, "Event loop is closed") can fail it with "AST constructor recursion depth mismatch"
    gc.collect()
    for name, path in names.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module not in names:
                    continue
                # ``from pkg import sub`` imports the submodule; ``from pkg import name`` the package
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(names)
                edges.update(subs or {node.module})
                if len(subs) < len(node.names):
                    edges.add(node.module)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_storage_has_no_import_cycle() -> None:
    graph = module_graph("kafkaish.storage", ROOT / "storage")
    assert {"kafkaish.storage.engine", "kafkaish.storage.types", "kafkaish.storage.log"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_sees_hidden_cycles(tmp_path: Path) -> None:
    # the shape storage had: engine imports log for a type, log imports engine's value types,
    # and engine imports the cleaner inside a function
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "engine.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.log import Log\n"
        "def run():\n    from pkg import cleaner\n")
    (tmp_path / "log.py").write_text("from pkg.engine import Result\n")
    (tmp_path / "cleaner.py").write_text("import pkg.log\n")
    graph = module_graph("pkg", tmp_path)
    assert graph["pkg.engine"] == {"pkg.log", "pkg.cleaner"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"pkg.engine", "pkg.cleaner", "pkg.log"}
    (tmp_path / "log.py").write_text("from pkg import types\n")
    assert find_cycle(module_graph("pkg", tmp_path)) is None


_FILE_IO = re.compile(r"\bos\.(pread|read|open|sendfile|fdopen)\b|\bopen\(|^\s*import os\b|^\s*import io\b", re.M)


def test_wire_does_no_file_io() -> None:
    found = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
             for p in sorted((ROOT / "wire").rglob("*.py"))
             for m in _FILE_IO.finditer(p.read_text())]
    assert not found, found
    assert _FILE_IO.search("def _read(fd):\n    import os\n    return os.pread(fd, 1, 0)\n")
