"""The BROKER_LOGGER config resource (KIP-412): read and change log levels at runtime.

Kafka exposes its log4j loggers through DescribeConfigs / IncrementalAlterConfigs on resource
type BROKER_LOGGER, named by the broker id (``LoggingController``, ``ConfigAdminManager``).
Here the loggers are Python's ``logging`` loggers that exist in the process, "root" being the
root logger; Kafka's level names map onto Python levels (WARN = WARNING, FATAL = CRITICAL,
TRACE below DEBUG, OFF above everything). Levels are process-wide and not persisted, as in Kafka.

Kafka's own logger names that tools and runbooks set (``kafka.server.KafkaApis=DEBUG``) are
answered too (D15): each stands for the kafkaish logger doing that work, and describing or
setting it reads or sets that logger. As in Kafka, entries have no type (UNKNOWN) and an empty
documentation text, and only Kafka's six levels may be set (``LogLevelConfig.VALID_LOG_LEVELS``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafkaish.admin.broker_configs import ConfigEntry
from kafkaish.admin.topic_configs import ConfigSource, ConfigType, config_error
from kafkaish.wire.constants import AlterConfigOpType
from kafkaish.wire.errors import ErrorCode, KafkaError

ROOT = "root"
TRACE = 5
OFF = logging.CRITICAL + 10
_TO_PYTHON = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
              "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "OFF": OFF}
_FROM_PYTHON = {v: k for k, v in _TO_PYTHON.items()}
_SETTABLE = ("DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN")  # Kafka's valid levels (no OFF)
#: Kafka logger name -> the kafkaish logger doing that work
KAFKA_LOGGERS = {
    "kafka.server.KafkaApis": "kafkaish.server",
    "kafka.network.SocketServer": "kafkaish.server",
    "kafka.request.logger": "kafkaish.request",
    "kafka.server.BrokerServer": "kafkaish.broker",
    "kafka.coordinator.transaction.TransactionCoordinator": "kafkaish.txn",
    "org.apache.kafka.coordinator.group.GroupCoordinatorService": "kafkaish.groups",
    "kafka.authorizer.logger": "kafkaish.acls",
    "state.change.logger": "kafkaish.admin.topics",
}


def _level_name(level: int) -> str:
    return _FROM_PYTHON.get(level, logging.getLevelName(level))


def _loggers() -> dict[str, logging.Logger]:
    found = {name: obj for name, obj in logging.root.manager.loggerDict.items() if isinstance(obj, logging.Logger)}
    found[ROOT] = logging.getLogger()
    for kafka_name, ours in KAFKA_LOGGERS.items():
        found.setdefault(kafka_name, logging.getLogger(ours))
    return found


def describe_loggers(keys: Sequence[str] | None) -> list[ConfigEntry]:
    """Every existing logger with its effective level (or only ``keys``)."""
    wanted = set(keys) if keys else None
    return [
        ConfigEntry(name=name, value=_level_name(logger.getEffectiveLevel()),
                    source=ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG, read_only=False, sensitive=False,
                    type=ConfigType.UNKNOWN, doc="")
        for name, logger in sorted(_loggers().items())
        if wanted is None or name in wanted
    ]


def _check(loggers: dict[str, logging.Logger], name: str, op: int, value: str | None) -> None:
    if name not in loggers:
        raise config_error(f"Logger {name} does not exist!")
    if op == AlterConfigOpType.DELETE:
        if name == ROOT:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Removing the log level of the root logger is not allowed")
        return
    if op != AlterConfigOpType.SET:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Operation {op} is not allowed for the BROKER_LOGGER resource")
    if value not in _SETTABLE:
        raise config_error(f"Cannot set the log level of {name} to {value} as it is not a supported log level. "
                           f"Valid log levels are {', '.join(_SETTABLE)}")


def alter_loggers(changes: Sequence[tuple[str, int | None, str | None]], validate_only: bool) -> None:
    """Apply SET (level) and DELETE (back to inheriting from the parent) to loggers."""
    loggers = _loggers()
    for name, op, value in changes:
        _check(loggers, name, AlterConfigOpType.SET if op is None else op, value)
    if validate_only:
        return
    for name, op, value in changes:
        level = logging.NOTSET if op == AlterConfigOpType.DELETE else _TO_PYTHON[value or ""]
        loggers[name].setLevel(level)
