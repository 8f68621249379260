"""Topic lifecycle shared by Metadata auto-create and the admin APIs.

Kafka's rules: topic names match ``[a-zA-Z0-9._-]{1,249}`` and are not "." or ".."
(``org.apache.kafka.common.internals.Topic``).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.broker import Broker
    from kafkaish.storage.engine import TopicMeta

_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_NAME_LENGTH = 249


def validate_topic_name(name: str | None) -> None:
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_NAME_LENGTH:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters")
    if not _LEGAL.match(name):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name \"{name}\" is illegal, it contains a character other than "
                         "ASCII alphanumerics, '.', '_' and '-'")


def create_topic(broker: "Broker", name: str, num_partitions: int = -1,
                 configs: dict[str, str] | None = None) -> "TopicMeta":
    """Create a topic with Kafka's checks; raises KafkaError with the code Kafka answers."""
    validate_topic_name(name)
    if name in broker.storage.topics():
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    if num_partitions == -1:
        num_partitions = broker.config.default_partitions
    if num_partitions < 1:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
    return broker.storage.create_topic(name, num_partitions, dict(configs or {}), uuid.uuid4())
