"""Packaging and layering rules that a wheel or a refactor could silently break."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


#: Every module's rank: a module may import only modules of its own rank or below, at run time,
#: under TYPE_CHECKING or inside a function. Longest matching prefix wins. A new module must be
#: given a rank here (test_every_module_has_a_rank); an entry must name an existing module or
#: package (test_every_rank_names_a_module), so a removed module cannot leave a stale entry.
RANKS: dict[str, int] = {
    "kafkaish.wire": 0,  # sans-IO codec, messages, records
    "kafkaish.storage": 1,  # logs, segments, state stores
    "kafkaish.coordinator": 2,  # sans-IO group and transaction state machines
    "kafkaish.config": 2,  # Settings
    "kafkaish.config_quick": 2,  # Settings without pydantic (kafkaish serve), SettingsError, Kafka names
    "kafkaish.config_fields": 2,  # generated table of the Settings fields
    "kafkaish.clock": 2,
    "kafkaish.sasl": 2,  # SASL mechanisms (sans-IO)
    "kafkaish.listeners": 2,  # listener names, security protocols, per-connection Session
    "kafkaish.admin": 3,  # ConfigManager, TopicManager, config catalogs
    "kafkaish.markers": 3,  # transaction marker writer
    "kafkaish.parked": 3,  # parked requests: long polls, coordinator completions
    "kafkaish.flusher": 3,  # fsync=always group commit on a worker thread
    "kafkaish.stats": 3,  # request/traffic counters (the server and Produce/Fetch update them)
    "kafkaish.logs": 2,  # log setup: text or JSON lines on stderr
    "kafkaish.authorizer": 3,  # ACLs and StandardAuthorizer decisions
    "kafkaish.credentials": 3,  # SCRAM credentials of the admin APIs
    "kafkaish.context": 4,  # RequestContext, BrokerServices
    "kafkaish.registry": 4,
    "kafkaish.handlers": 5,
    "kafkaish.faults": 5,  # fault rules (the broker's dispatch applies them)
    "kafkaish.fault_responses": 5,
    "kafkaish.broker": 6,  # the composition root
    "kafkaish.server": 7,  # sockets
    "kafkaish.server_limits": 7,
    "kafkaish.tls": 7,  # ssl contexts and certificate principals
    "kafkaish.cli": 8,
    "kafkaish.testing": 8,
    "kafkaish.control": 7,  # the admin HTTP server beside the Kafka listener (server starts it)
    "kafkaish.__main__": 8,
    "kafkaish": 8,  # the package's __init__
}


def rank_of(module: str) -> int | None:
    best = None
    for prefix in RANKS:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else RANKS[best]


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by dotted name."""
    found = {}
    for name, directory in package_dirs().items():
        for path in directory.glob("*.py"):
            found[name if path.stem == "__init__" else f"{name}.{path.stem}"] = path
    return found


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every kafkaish module ``source`` imports anywhere: top level, TYPE_CHECKING or in a function."""
    package = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # "from kafkaish import broker"
    return {m for m in out if m == "kafkaish" or m.startswith("kafkaish.")}


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that run up the ranks."""
    own = rank_of(module)
    assert own is not None, f"{module} has no rank in RANKS"
    bad = []
    for imported in sorted(imported_modules(source, module, is_package)):
        target = rank_of(imported)
        if target is not None and target > own and imported != "kafkaish":
            bad.append(f"{module} (rank {own}) imports {imported} (rank {target})")
    return bad


def test_every_module_has_a_rank() -> None:
    unranked = [m for m in module_files() if rank_of(m) is None]
    assert not unranked, f"give these modules a rank in RANKS: {unranked}"


def stale_ranks(ranks: dict[str, int], modules: set[str]) -> list[str]:
    """The entries of ``ranks`` that name no module and no package among ``modules``."""
    return [p for p in ranks if not any(m == p or m.startswith(p + ".") for m in modules)]


def test_every_rank_names_a_module() -> None:
    stale = stale_ranks(RANKS, set(module_files()))
    assert not stale, f"these RANKS entries name no module (remove them): {stale}"


def test_stale_ranks_sees_a_removed_module() -> None:
    """kafkaish.cli_topics was ranked long after it was folded into kafkaish.cli; this catches that."""
    modules = set(module_files())
    assert stale_ranks({**RANKS, "kafkaish.cli_topics": 8}, modules) == ["kafkaish.cli_topics"]
    assert stale_ranks({"kafkaish.wire": 0, "kafkaish.cli": 8}, modules) == []


def test_import_direction() -> None:
    """wire <- storage <- coordinator/config/clock <- admin <- context/registry <- handlers <- broker <- server."""
    bad = []
    for module, path in sorted(module_files().items()):
        bad += upward_imports(path.read_text(), module, path.stem == "__init__")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source", [
    "from kafkaish.broker import Broker\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kafkaish.broker import Broker\n",
    "def f():\n    import kafkaish.server\n",
    "from .. import broker\n",
])
def test_import_direction_sees_a_back_edge(source: str) -> None:
    """A handler naming the broker, however it is imported, is caught."""
    assert upward_imports(source, "kafkaish.handlers.synthetic")
    assert not upward_imports("from kafkaish.context import RequestContext\n", "kafkaish.handlers.synthetic")


def test_nothing_below_the_broker_imports_it() -> None:
    for module, path in module_files().items():
        if rank_of(module) < RANKS["kafkaish.broker"]:
            assert "kafkaish.broker" not in imported_modules(path.read_text(), module, path.stem == "__init__"), module


def test_handler_modules_hold_no_setup_hook_and_no_copy_of_the_broker() -> None:
    """Handlers see the broker only through kafkaish.context.BrokerServices; the broker builds everything."""
    for path in sorted((ROOT / "kafkaish" / "handlers").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        assert not names & {"setup", "Broker"}, f"{path.name} defines {names & {'setup', 'Broker'}}"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_sans_io_layers_import_no_sockets_or_asyncio() -> None:
    for directory in (ROOT / "wire", ROOT / "storage", ROOT / "kafkaish" / "coordinator"):
        for path in directory.rglob("*.py"):
            bad = {"asyncio", "socket", "selectors"} & {i.split(".")[0] for i in _imports(path)}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_generated_messages_are_up_to_date() -> None:
    src = ROOT.parent / "shared" / "kafka-protocol" / "messages"
    if not src.is_dir():
        pytest.skip("Kafka's message definitions (../shared/kafka-protocol) are not beside this checkout")
    proc = subprocess.run([sys.executable, "scripts/generate_messages.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
