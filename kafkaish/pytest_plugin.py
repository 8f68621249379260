"""pytest plugin shipped with kafkaish (entry point ``pytest11``): Kafka fixtures without a conftest.

Fixtures:
- ``kafka_broker`` (session): an embedded in-memory broker, one per session (one per
  pytest-xdist worker); ``.bootstrap`` plus the Python control plane (``faults``, ``inspect``,
  ``clock``, ``reset()``, ``snapshot()``, ``restore()``).
- ``kafka_bootstrap`` (session): its ``"host:port"``.
- ``kafka_topic``: a factory, ``kafka_topic(partitions=3, config={"retention.ms": "60000"})``
  creates a topic with a unique name (through the Kafka protocol) and returns the name.
- ``kafka_group_id``: a unique consumer group id for this test.
- ``kafka_fresh_broker``: a new embedded broker for this one test.
- ``kafka_broker_settings`` (session): override it in a conftest to pass Settings to the
  embedded brokers (``{"admin_port": 0, "default_partitions": 3}``).

``--kafka-bootstrap HOST:PORT`` (or ``KAFKAISH_TEST_BOOTSTRAP``) runs the same tests against an
external broker (a real Kafka, another kafkaish): tests that use the control plane or a fresh
broker, or carry ``@pytest.mark.kafka_control``, are skipped, saying why.

Isolation is cheap by default: unique topic and group names per test. For a clean broker call
``kafka_broker.reset()`` (milliseconds) or use ``kafka_fresh_broker`` (a new broker, ~ms too).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ENV_BOOTSTRAP = "KAFKAISH_TEST_BOOTSTRAP"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kafkaish", "Kafka fixtures (kafkaish)")
    group.addoption("--kafka-bootstrap", default=None, metavar="HOST:PORT",
                    help=f"run against this external Kafka broker instead of an embedded kafkaish "
                         f"(also ${ENV_BOOTSTRAP}); control-plane tests are skipped")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka_control: needs kafkaish's control plane (skipped against an "
                                       "external broker)")


def _external(config: pytest.Config) -> str | None:
    return config.getoption("kafka_bootstrap") or os.environ.get(ENV_BOOTSTRAP) or None


def _skip_external(bootstrap: str, what: str) -> None:
    pytest.skip(f"{what} needs kafkaish's control plane; running against the external broker {bootstrap}")


class ExternalBroker:
    """An external broker given by ``--kafka-bootstrap``: an address and no control plane."""

    external = True

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        _skip_external(self.bootstrap, f"kafka_broker.{name}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    external = _external(item.config)
    if external and item.get_closest_marker("kafka_control"):
        _skip_external(external, "this test")


@pytest.fixture(scope="session")
def kafka_broker_settings() -> dict[str, Any]:
    """Settings for embedded brokers (override in a conftest.py)."""
    return {}


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest, kafka_broker_settings: dict[str, Any]) -> Iterator[Any]:
    """One embedded broker for the session (per xdist worker), or the external one."""
    external = _external(request.config)
    if external:
        yield ExternalBroker(external)
        return
    from kafkaish.testing import EmbeddedBroker

    with EmbeddedBroker(**kafka_broker_settings) as kb:
        yield kb


@pytest.fixture
def kafka_fresh_broker(request: pytest.FixtureRequest, kafka_broker_settings: dict[str, Any]) -> Iterator[Any]:
    """A new embedded broker for this test only."""
    external = _external(request.config)
    if external:
        _skip_external(external, "kafka_fresh_broker")
    from kafkaish.testing import EmbeddedBroker

    with EmbeddedBroker(**kafka_broker_settings) as kb:
        yield kb


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Any) -> str:
    return str(kafka_broker.bootstrap)


@pytest.fixture
def kafka_group_id(request: pytest.FixtureRequest) -> str:
    return f"g-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kafka_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``kafka_topic(partitions=1, config=None, name=None, replication_factor=-1) -> str``: create a
    topic (unique name; replication factor up to the broker count, e.g. with ``{"brokers": 3}``)."""
    prefix = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)[:60]

    def make(partitions: int = 1, config: dict[str, str] | None = None, name: str | None = None,
             replication_factor: int = -1) -> str:
        topic = name or f"{prefix}-{uuid.uuid4().hex[:8]}"
        create_topic(kafka_bootstrap, topic, partitions, config or {}, replication_factor=replication_factor)
        return topic

    return make


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None,
                 timeout: float = 30, replication_factor: int = -1) -> None:
    """CreateTopics v4 (understood by Kafka 2.0 to 4.x and kafkaish) over one blocking socket."""
    from kafkaish.wire.codec import ClientCodec
    from kafkaish.wire.errors import ErrorCode
    from kafkaish.wire.messages.create_topics import CreateTopicsRequest as Req

    topic = Req.CreatableTopic(name=name, num_partitions=partitions, replication_factor=replication_factor,
                               configs=[Req.CreatableTopicConfig(name=k, value=str(v))
                                        for k, v in (config or {}).items()])
    codec = ClientCodec(client_id="kafkaish-pytest")
    _, data = codec.encode_request(Req(topics=[topic], timeout_ms=int(timeout * 1000)), 4)
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        while (got := codec.next_response()) is None:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{bootstrap} closed the connection during CreateTopics")
            codec.receive_data(chunk)
    result = got[1].topics[0]
    if result.error_code:
        raise RuntimeError(f"cannot create topic {name!r}: {ErrorCode(result.error_code).name} "
                           f"{result.error_message or ''}".strip())
