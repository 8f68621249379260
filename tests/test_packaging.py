"""Packaging and layering rules that a wheel or a refactor could silently break."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIR = PYPROJECT["tool"]["setuptools"]["package-dir"]
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]
ROOTS = {"kafkaish": ROOT / "kafkaish", "kafkaish.wire": ROOT / "wire", "kafkaish.storage": ROOT / "storage"}


def package_dirs() -> dict[str, Path]:
    """Every directory holding an __init__.py under the three roots, by dotted name."""
    found = {}
    for name, root in ROOTS.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            dotted = name if rel == Path(".") else name + "." + ".".join(rel.parts)
            if "__pycache__" not in dotted:
                found[dotted] = init.parent
    return found


def test_every_package_directory_is_listed() -> None:
    # an unlisted subpackage silently vanishes from the wheel
    assert sorted(package_dirs()) == sorted(PACKAGES)
    assert PACKAGE_DIR == {"kafkaish.wire": "wire", "kafkaish.storage": "storage"}


def test_no_top_level_wire_or_storage_package_is_installed() -> None:
    assert not any(p.split(".")[0] in ("wire", "storage") for p in PACKAGES)


def test_wire_and_storage_refuse_other_import_names(tmp_path: Path) -> None:
    for pkg in ("wire", "storage"):
        proc = subprocess.run([sys.executable, "-c", f"import {pkg}"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode != 0
        assert f"must be imported as kafkaish.{pkg}" in proc.stderr


LAYERS = ["kafkaish.wire", "kafkaish.storage", "kafkaish.coordinator", "kafkaish.handlers", "kafkaish.broker", "kafkaish.server"]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_import_direction() -> None:
    """wire <- storage <- coordinator <- handlers <- broker <- server, never backwards."""
    for name, directory in package_dirs().items():
        layer = next((i for i, lay in enumerate(LAYERS) if name == lay or name.startswith(lay + ".")), None)
        if layer is None:
            continue
        for path in directory.glob("*.py"):
            for imported in _imports(path):
                for j, lay in enumerate(LAYERS):
                    if j > layer and (imported == lay or imported.startswith(lay + ".")):
                        raise AssertionError(f"{path.relative_to(ROOT)} ({LAYERS[layer]}) imports {imported}")


def test_sans_io_layers_import_no_sockets_or_asyncio() -> None:
    for directory in (ROOT / "wire", ROOT / "storage", ROOT / "kafkaish" / "coordinator"):
        for path in directory.rglob("*.py"):
            bad = {"asyncio", "socket", "selectors"} & {i.split(".")[0] for i in _imports(path)}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_generated_messages_are_up_to_date() -> None:
    src = ROOT.parent / "shared" / "kafka-protocol" / "messages"
    if not src.is_dir():
        import pytest

        pytest.skip("Kafka's message definitions (../shared/kafka-protocol) are not beside this checkout")
    proc = subprocess.run([sys.executable, "scripts/generate_messages.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
