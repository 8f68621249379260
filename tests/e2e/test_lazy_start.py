"""``kafkaish serve`` starts without what its first requests do not need (issue #15).

The server process runs with ``PYTHONPROFILEIMPORTTIME=1``, so its output lists every module it
imports, when it imports it. A real client (confluent-kafka) sends ApiVersions and Metadata,
then a rarely used API: each handler module (and the generated message modules it uses) must be
imported on that API's first request and answer it, and the heavy libraries of other features
(pydantic for settings, click/rich for the CLI, aiohttp/prometheus for the admin port, the
compression codecs) must never be imported by a broker that serves only these requests.
"""

from __future__ import annotations

import re
import time

from kafkaish.testing import ServerProcess

IMPORTED = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")
NEVER_AT_START = ("pydantic", "pydantic_core", "pydantic_settings", "click", "rich", "aiohttp", "prometheus_client",
                  "cryptography", "cramjam", "kafkaish.control", "kafkaish.config")


def _imported(server: ServerProcess) -> set[str]:
    return {m.group(1) for line in list(server.lines) if (m := IMPORTED.match(line))}


def _wait_imported(server: ServerProcess, module: str, timeout: float = 20) -> set[str]:
    """The modules imported so far, once ``module`` is among them (the output is read by a thread)."""
    deadline = time.monotonic() + timeout
    while module not in (mods := _imported(server)):
        assert time.monotonic() < deadline, f"{module} was never imported"
        time.sleep(0.01)
    return mods


def test_serve_imports_a_handler_on_its_apis_first_request_and_nothing_heavy() -> None:
    from confluent_kafka.admin import AdminClient

    with ServerProcess("--in-memory", "--log-level", "WARNING", env={"PYTHONPROFILEIMPORTTIME": "1"}) as server:
        at_ready = _imported(server)
        assert "kafkaish.server" in at_ready  # the import listing works
        assert not {m for m in at_ready if m.startswith("kafkaish.handlers.")}
        assert "kafkaish.wire.messages.metadata" not in at_ready

        admin = AdminClient({"bootstrap.servers": server.bootstrap})
        assert admin.list_topics(timeout=20).brokers  # ApiVersions, then Metadata
        after_metadata = _wait_imported(server, "kafkaish.handlers.metadata")
        assert "kafkaish.handlers.api_versions" in after_metadata
        assert "kafkaish.handlers.scram_users" not in after_metadata

        # A rarely used API: its handler loads on the first request and answers it.
        assert admin.describe_user_scram_credentials().result(timeout=20) == {}
        _wait_imported(server, "kafkaish.handlers.scram_users")
        assert server.alive()
    imported = _imported(server)
    assert "kafkaish.handlers.produce" not in imported
    heavy = sorted(m for m in imported if any(m == name or m.startswith(name + ".") for name in NEVER_AT_START))
    assert heavy == []
