"""Kafka's rules for topic names (``org.apache.kafka.common.internals.Topic``).

A legal name is 1..249 characters of ASCII letters, digits, '.', '_' and '-', and is neither
"." nor "..". The limit of 249 leaves room for the "-<partition>" suffix of the partition
directory inside a 255-character file name.

'.' and '_' collide in metric names (Kafka replaces '.' with '_' there), so Kafka warns when a
name contains either one, and its KRaft controller (``ReplicationControlManager.createTopic``)
refuses a new topic whose name equals an existing one after that substitution, with
INVALID_TOPIC_EXCEPTION. A name merely *containing* '.' or '_' is legal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kafkaish.wire.errors import ErrorCode, KafkaError

MAX_NAME_LENGTH = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")

# Kafka's internal topics: clients cannot create them through CreateTopics.
GROUP_METADATA_TOPIC = "__consumer_offsets"
TRANSACTION_STATE_TOPIC = "__transaction_state"
SHARE_GROUP_STATE_TOPIC = "__share_group_state"
INTERNAL_TOPICS = frozenset({GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC, SHARE_GROUP_STATE_TOPIC})


def topic_name_problem(name: str | None) -> str | None:
    """Why ``name`` is not a legal topic name, or None when it is."""
    if name is None or name == "":
        return "Topic name is illegal: it must not be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"Topic name is illegal: it is {len(name)} characters long, "
            f"the limit is {MAX_NAME_LENGTH}: {name}"
        )
    if not _LEGAL.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal: only ASCII letters, digits, '
            "'.', '_' and '-' are allowed"
        )
    return None


def validate_topic_name(name: str | None) -> str:
    """Return ``name`` if legal, else raise KafkaError(INVALID_TOPIC_EXCEPTION, reason)."""
    problem = topic_name_problem(name)
    if problem is not None:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
    assert name is not None
    return name


def is_internal(name: str) -> bool:
    return name in INTERNAL_TOPICS


def has_collision_chars(name: str) -> bool:
    """True when the name contains '.' or '_' (Kafka's kafka-topics tool prints a warning)."""
    return "." in name or "_" in name


def collision_key(name: str) -> str:
    """The name as it appears in metric names, where '.' becomes '_' (``Topic.unifyCollisionChars``)."""
    return name.replace(".", "_")


def colliding_topic(name: str, existing: Iterable[str]) -> str | None:
    """An existing topic, other than ``name`` itself, that ``name`` collides with, or None."""
    if not has_collision_chars(name):
        return None
    key = collision_key(name)
    for other in existing:
        if other != name and collision_key(other) == key:
            return other
    return None


def check_no_collision(name: str, existing: Iterable[str]) -> None:
    """Raise INVALID_TOPIC_EXCEPTION when ``name`` collides with an existing topic (KRaft rule)."""
    other = colliding_topic(name, existing)
    if other is not None:
        raise KafkaError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic '{name}' collides with existing topic '{other}': '.' and '_' are "
            "interchangeable in metric names",
        )


def collision_warning(name: str) -> str | None:
    """The advisory text tools print for names with '.' or '_' (not an error)."""
    if not has_collision_chars(name):
        return None
    return (
        f"WARNING: topic name '{name}' contains '.' or '_'; because metric names replace '.' "
        "with '_', it could clash with a topic whose name differs only in those characters."
    )
