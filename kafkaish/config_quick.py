"""Settings without pydantic, for ``kafkaish serve``'s start (issue #15), and what the rest of the
broker needs of the settings (``SettingsError``, the Kafka names table, ``component_config``).

``kafkaish.config.Settings`` (pydantic-settings) defines the settings; importing pydantic and
building that model is about half of a broker's start. ``quick_settings`` validates the usual
inputs (flags and ``KAFKAISH_*`` variables in their plain forms) against the generated table
``kafkaish.config_fields`` and returns a ``QuickSettings`` with the same values; for anything
else (a TOML file, a value out of range or in a form it does not know, such as ``yes`` or
``9_000``) it returns None and the caller asks pydantic, so every error message, and every value
accepted in a lax form, stays pydantic's. tests/test_config_quick.py compares both.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from kafkaish.config_fields import FIELDS

ENV_PREFIX = "KAFKAISH_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})  # pydantic's bool strings, any case
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_BAD = object()


class SettingsError(ValueError):
    """A setting has an invalid value; the message names it."""


def check_log_level(value: str) -> str:
    """The level, upper-cased; ValueError unless it is a logging level."""
    value = value.upper()
    if value not in LOG_LEVELS:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value


def check_listeners(settings: Any) -> None:
    """ValueError unless listeners, advertised listeners and SSL files fit together."""
    from kafkaish.listeners import advertised_listeners, configured_listeners

    specs = configured_listeners(settings)
    names = {spec.name for spec in specs}
    for name in advertised_listeners(settings):
        if name not in names:
            raise ValueError(f"advertised listener {name} is not one of the listeners ({', '.join(sorted(names))})")
    if any(spec.uses_ssl for spec in specs) and not (settings.ssl_cert and settings.ssl_key):
        raise ValueError("SSL and SASL_SSL listeners need ssl_cert and ssl_key (PEM files)")
    if settings.ssl_client_auth != "none" and any(spec.uses_ssl for spec in specs) and not settings.ssl_ca:
        raise ValueError(f"ssl_client_auth={settings.ssl_client_auth} needs ssl_ca to check client certificates")


def public_host(settings: Any) -> str:
    """The host clients are told: advertised_host, else host ("localhost" for a wildcard)."""
    if settings.advertised_host:
        return str(settings.advertised_host)
    return "localhost" if settings.host in ("0.0.0.0", "::", "") else str(settings.host)


class QuickSettings:
    """The values of a ``Settings``, validated by ``quick_settings``; read like one."""

    __slots__ = tuple(FIELDS)

    def __init__(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def public_host(self) -> str:
        return public_host(self)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> QuickSettings:
        """A copy with ``update`` applied, unvalidated (as pydantic's ``model_copy``)."""
        return QuickSettings({**{name: getattr(self, name) for name in FIELDS}, **(update or {})})

    def __repr__(self) -> str:
        return "QuickSettings(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in FIELDS) + ")"


def _checked(name: str, value: Any) -> Any:
    kind, optional, _, ge, le, min_length, choices, _ = FIELDS[name]
    if value is None:
        return None if optional else _BAD
    if kind == "bool":
        return value if type(value) is bool else _BAD
    if kind == "int":
        if type(value) is not int or (ge is not None and value < ge) or (le is not None and value > le):
            return _BAD
        return value
    if kind == "choice":
        return value if type(value) is str and value in choices else _BAD
    if kind in ("str", "path"):
        if type(value) is not str or (min_length is not None and len(value) < min_length):
            return _BAD
        return Path(value) if kind == "path" else value
    if kind == "dict":
        ok = type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())
        return dict(value) if ok else _BAD
    if kind == "list":
        return list(value) if type(value) is list and all(type(v) is str for v in value) else _BAD
    return _BAD


def _from_env(name: str, text: str) -> Any:
    """A ``KAFKAISH_*`` value in a plain form, or _BAD (pydantic decides)."""
    kind = FIELDS[name][0]
    if text == "" or text != text.strip():
        return _BAD
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else _BAD
    if kind == "int":
        digits = text[1:] if text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()) or (digits != "0" and digits.startswith("0")):
            return _BAD
        return _checked(name, int(text))
    if kind in ("dict", "list"):  # pydantic-settings reads complex values as JSON
        try:
            return _checked(name, json.loads(text))
        except ValueError:
            return _BAD
    return _checked(name, text)


def quick_settings(config_file: str | Path | None, overrides: Mapping[str, Any],
                   environ: Mapping[str, str]) -> QuickSettings | None:
    """``Settings(**overrides)`` with ``environ``'s ``KAFKAISH_*`` values, or None if pydantic must decide."""
    if config_file is not None:
        return None
    values = {name: spec[2] for name, spec in FIELDS.items()}
    values["data_dir"] = Path(str(values["data_dir"]))
    for key, text in environ.items():
        if key[:len(ENV_PREFIX)].upper() != ENV_PREFIX:
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name == "config_file" or (name in FIELDS and key != key.upper()):
            return None
        if name in FIELDS and name not in overrides:
            values[name] = _from_env(name, text)
    for name, value in overrides.items():
        if name not in FIELDS:
            return None
        values[name] = _checked(name, value)
    if any(value is _BAD for value in values.values()):
        return None
    try:
        values["log_level"] = check_log_level(values["log_level"])
        settings = QuickSettings(values)
        check_listeners(settings)
    except ValueError:
        return None
    return settings


def load_quick(config_file: str | Path | None = None, **overrides: Any) -> Any:
    """``kafkaish.config.load_settings(config_file, **overrides)``, without pydantic when it can."""
    settings = quick_settings(config_file, {k: v for k, v in overrides.items() if v is not None}, os.environ)
    if settings is not None:
        return settings
    from kafkaish.config import load_settings

    return load_settings(config_file, **overrides)


# ------------------------------------------------------------------ Kafka's names
#: Settings attribute -> the Kafka broker config it is. The coordinators' config dataclasses name
#: the Kafka config of each field in its metadata ({"kafka": name, "scale": factor}).
SETTINGS_TO_KAFKA: dict[str, str] = {
    "auto_create_topics": "auto.create.topics.enable",
    "default_partitions": "num.partitions",
    "node_id": "node.id",
    "message_max_bytes": "message.max.bytes",
    "socket_request_max_bytes": "socket.request.max.bytes",
    "fetch_max_bytes": "fetch.max.bytes",
    "group_initial_rebalance_delay_ms": "group.initial.rebalance.delay.ms",
    "group_min_session_timeout_ms": "group.min.session.timeout.ms",
    "group_max_session_timeout_ms": "group.max.session.timeout.ms",
    "group_consumer_heartbeat_interval_ms": "group.consumer.heartbeat.interval.ms",
    "group_consumer_session_timeout_ms": "group.consumer.session.timeout.ms",
    "offsets_retention_minutes": "offsets.retention.minutes",
    "offset_metadata_max_bytes": "offset.metadata.max.bytes",
    "transaction_max_timeout_ms": "transaction.max.timeout.ms",
    "log_retention_ms": "log.retention.ms",
    "log_retention_check_interval_ms": "log.retention.check.interval.ms",
    "log_initial_task_delay_ms": "log.initial.task.delay.ms",
    "log_segment_bytes": "log.segment.bytes",
    "queued_max_request_bytes": "queued.max.request.bytes",
    "sasl_server_max_receive_size": "sasl.server.max.receive.size",
    "connections_max_idle_ms": "connections.max.idle.ms",
    "connections_max_reauth_ms": "connections.max.reauth.ms",
    "max_connections": "max.connections",
    "max_connections_per_ip": "max.connections.per.ip",
}


def kafka_values(settings: Any) -> dict[str, Any]:
    """The settings that are Kafka broker configs, under Kafka's names."""
    return {kafka: getattr(settings, attribute) for attribute, kafka in SETTINGS_TO_KAFKA.items()}


C = TypeVar("C")


def component_config(cls: type[C], settings: Any) -> C:
    """Build a config dataclass whose fields name their Kafka config in ``metadata["kafka"]``."""
    values = kafka_values(settings)
    chosen = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata.get("kafka")
        if name in values:
            chosen[f.name] = values[name] * f.metadata.get("scale", 1)
    return cls(**chosen)
