"""One security configuration (protocol, SASL credentials, TLS files) as each client library spells it,
and a produce-then-consume round trip with each, for the listener matrix."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")


@dataclass(frozen=True)
class Auth:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    user: str | None = None
    password: str | None = None
    ca: Path | None = None
    cert: Path | None = None  # client certificate (mutual TLS)
    key: Path | None = None


def kafka_python_conf(auth: Auth) -> dict[str, object]:
    conf: dict[str, object] = {"security_protocol": auth.protocol}
    if auth.mechanism:
        conf.update(sasl_mechanism=auth.mechanism, sasl_plain_username=auth.user, sasl_plain_password=auth.password)
    if auth.ca:
        conf.update(ssl_cafile=str(auth.ca), ssl_check_hostname=True)
    if auth.cert:
        conf.update(ssl_certfile=str(auth.cert), ssl_keyfile=str(auth.key))
    return conf


def aiokafka_conf(auth: Auth) -> dict[str, object]:
    conf: dict[str, object] = {"security_protocol": auth.protocol}
    if auth.mechanism:
        conf.update(sasl_mechanism=auth.mechanism, sasl_plain_username=auth.user, sasl_plain_password=auth.password)
    if auth.ca:
        from aiokafka.helpers import create_ssl_context

        conf["ssl_context"] = create_ssl_context(cafile=str(auth.ca), certfile=str(auth.cert) if auth.cert else None,
                                                 keyfile=str(auth.key) if auth.key else None)
    return conf


def confluent_conf(auth: Auth) -> dict[str, object]:
    conf: dict[str, object] = {"security.protocol": auth.protocol}
    if auth.mechanism:
        conf.update({"sasl.mechanism": auth.mechanism, "sasl.username": auth.user, "sasl.password": auth.password})
    if auth.ca:
        conf["ssl.ca.location"] = str(auth.ca)
    if auth.cert:
        conf.update({"ssl.certificate.location": str(auth.cert), "ssl.key.location": str(auth.key)})
    return conf


def roundtrip(client: str, bootstrap: str, topic: str, auth: Auth, value: bytes = b"secret-record") -> list[bytes]:
    """Produce ``value`` to ``topic`` and read the topic from the start; the values read."""
    return {"kafka-python": _kafka_python, "aiokafka": _aiokafka, "confluent-kafka": _confluent}[client](
        bootstrap, topic, auth, value)


def _kafka_python(bootstrap: str, topic: str, auth: Auth, value: bytes) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer

    conf = kafka_python_conf(auth)
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=15000, **conf)
    try:
        producer.send(topic, value).get(30)
    finally:
        producer.close(5)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **conf)
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while not got and time.monotonic() < deadline:
            got += [m.value for records in consumer.poll(500).values() for m in records]
        return got
    finally:
        consumer.close()


def _aiokafka(bootstrap: str, topic: str, auth: Auth, value: bytes) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, **aiokafka_conf(auth))
        await producer.start()
        try:
            await producer.send_and_wait(topic, value)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    **aiokafka_conf(auth))
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=10000)
            return [m.value for records in batch.values() for m in records]
        finally:
            await consumer.stop()

    return asyncio.run(run())


def _confluent(bootstrap: str, topic: str, auth: Auth, value: bytes) -> list[bytes]:
    from confluent_kafka import Consumer, Producer

    conf = {"bootstrap.servers": bootstrap, **confluent_conf(auth)}
    errors: list[object] = []
    producer = Producer({**conf, "message.timeout.ms": 15000})
    producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err) if err else None)
    producer.flush(30)
    if errors:
        raise RuntimeError(f"delivery failed: {errors[0]}")
    consumer = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while not got and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def refused(client: str, bootstrap: str, topic: str, auth: Auth) -> str:
    """Try to produce and read with credentials that must be refused; the client's error, or raise if it got through."""
    try:
        got = {"kafka-python": _kafka_python_refused, "aiokafka": _aiokafka_refused,
               "confluent-kafka": _confluent_refused}[client](bootstrap, topic, auth)
    except Exception as e:  # noqa: BLE001 - any client error is a refusal
        return f"{type(e).__name__}: {e}"
    raise AssertionError(f"{client} got through with {auth}: {got!r}")


def _kafka_python_refused(bootstrap: str, topic: str, auth: Auth) -> object:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=3000, request_timeout_ms=5000,
                             bootstrap_timeout_ms=2000,
                             **kafka_python_conf(auth))
    try:
        return producer.send(topic, b"x").get(10)
    finally:
        producer.close(1)


def _aiokafka_refused(bootstrap: str, topic: str, auth: Auth) -> object:
    from aiokafka import AIOKafkaProducer

    async def run() -> object:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **aiokafka_conf(auth))
        try:
            await asyncio.wait_for(producer.start(), 10)
            return await asyncio.wait_for(producer.send_and_wait(topic, b"x"), 10)
        finally:
            await producer.stop()

    return asyncio.run(run())


def _confluent_refused(bootstrap: str, topic: str, auth: Auth) -> object:
    from confluent_kafka import Producer

    errors: list[object] = []
    delivered: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, **confluent_conf(auth), "message.timeout.ms": 5000,
                         "error_cb": errors.append, "log_level": 0})
    producer.produce(topic, b"x", on_delivery=lambda err, msg: (errors if err else delivered).append(err or msg))
    deadline = time.monotonic() + 10
    while not errors and not delivered and time.monotonic() < deadline:
        producer.poll(0.1)
    if delivered:
        return delivered
    raise RuntimeError(f"refused: {errors[:1]}")
