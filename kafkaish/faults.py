"""Fault rules: declarative fault injection for any client, driven over HTTP or from Python.

A rule matches requests by API (name or key) and optionally topic, partition, group, client id
or transactional id; it acts once, N times (``times``), always (no ``times``), or with a
``probability``; and it does one thing: answer a Kafka error code by name (the API's real
response shape, with the error on the matching topics/partitions), delay the answer, drop it,
close the connection, or take the broker down for a while (listeners refuse new connections and
existing ones are closed). ``delay_ms`` may be combined with any other action.

Learned from franz-go kfake's ``ControlKey`` (intercept one API, keep or act once) and from
Toxiproxy (``delay_ms`` is its latency toxic, ``drop`` its timeout toxic holding the data,
``close`` reset_peer, ``down_ms`` a disabled proxy, ``probability`` its toxicity), but at Kafka's
level: the rules know APIs, topics and partitions, so a test can fail one partition's produce
with NOT_LEADER_OR_FOLLOWER and leave the rest of the request alone.

Rules are plain data (``to_json``); ``FaultRules.apply`` is called from ``Broker.dispatch`` on
the broker's loop. The older ``Broker.control(fn)`` hook runs before the rules and still works.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkaish.registry import FaultAction
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages import API_NAMES

if TYPE_CHECKING:
    from kafkaish.wire.codec import Request

log = logging.getLogger("kafkaish.faults")

__all__ = ["FaultRule", "FaultRuleError", "FaultRules", "api_key_of", "error_code_of"]

_API_BY_NAME = {name.lower(): key for key, name in API_NAMES.items()}
_FIELDS = {"api", "topic", "partition", "group", "client_id", "transactional_id", "error", "delay_ms", "drop",
           "close", "down_ms", "times", "probability"}


class FaultRuleError(ValueError):
    """A rule was described wrongly; ``field`` names the culprit (answered as HTTP 400)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def api_key_of(value: Any, field_name: str = "api") -> int:
    """An API by key (0) or name ("Produce", case-insensitive)."""
    if isinstance(value, bool):
        raise FaultRuleError(field_name, "must be an API name or key")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        key = int(value)
        if key not in API_NAMES:
            raise FaultRuleError(field_name, f"unknown API key {key}")
        return key
    if isinstance(value, str) and value.lower() in _API_BY_NAME:
        return _API_BY_NAME[value.lower()]
    raise FaultRuleError(field_name, f"unknown API {value!r} (use a name such as 'Produce' or a key)")


def error_code_of(value: Any, field_name: str = "error") -> ErrorCode:
    """A Kafka error by name ("NOT_LEADER_OR_FOLLOWER") or code (6)."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        try:
            return ErrorCode[value.upper()]
        except KeyError:
            raise FaultRuleError(field_name, f"unknown Kafka error {value!r}") from None
    try:
        return ErrorCode(int(value))
    except (TypeError, ValueError):
        raise FaultRuleError(field_name, f"unknown Kafka error {value!r}") from None


def _int(spec: dict[str, Any], name: str, minimum: int) -> int | None:
    v = spec.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise FaultRuleError(name, f"must be an integer >= {minimum}")
    return v


def _str(spec: dict[str, Any], name: str) -> str | None:
    v = spec.get(name)
    if v is not None and not isinstance(v, str):
        raise FaultRuleError(name, "must be a string")
    return v


@dataclass(slots=True)
class FaultRule:
    id: int
    api_key: int | None = None
    topic: str | None = None
    partition: int | None = None
    group: str | None = None
    client_id: str | None = None
    transactional_id: str | None = None
    error: ErrorCode | None = None
    delay_ms: int | None = None
    drop: bool = False
    close: bool = False
    down_ms: int | None = None
    times: int | None = None  # acts this many more times; None: always
    probability: float | None = None
    hits: int = 0

    @classmethod
    def parse(cls, rule_id: int, spec: Any) -> FaultRule:
        if not isinstance(spec, dict):
            raise FaultRuleError("body", "a rule is a JSON object")
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise FaultRuleError(unknown[0], f"unknown field (known: {', '.join(sorted(_FIELDS))})")
        rule = cls(rule_id)
        if spec.get("api") is not None:
            rule.api_key = api_key_of(spec["api"])
        rule.topic, rule.group = _str(spec, "topic"), _str(spec, "group")
        rule.client_id, rule.transactional_id = _str(spec, "client_id"), _str(spec, "transactional_id")
        rule.partition = _int(spec, "partition", 0)
        if rule.partition is not None and rule.topic is None:
            raise FaultRuleError("partition", "needs a topic")
        if spec.get("error") is not None:
            rule.error = error_code_of(spec["error"])
        rule.delay_ms, rule.down_ms = _int(spec, "delay_ms", 0), _int(spec, "down_ms", 0)
        for flag in ("drop", "close"):
            if not isinstance(spec.get(flag, False), bool):
                raise FaultRuleError(flag, "must be true or false")
            setattr(rule, flag, spec.get(flag, False))
        actions = [n for n in ("error", "drop", "close", "down_ms") if spec.get(n) not in (None, False)]
        if len(actions) > 1:
            raise FaultRuleError(actions[1], f"a rule does one of error, drop, close, down_ms (got {actions})")
        if not actions and rule.delay_ms is None:
            raise FaultRuleError("error", "a rule needs an action: error, delay_ms, drop, close or down_ms")
        rule.times = _int(spec, "times", 1)
        p = spec.get("probability")
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
                raise FaultRuleError("probability", "must be a number in (0, 1]")
            rule.probability = float(p)
        return rule

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "api": API_NAMES.get(self.api_key) if self.api_key is not None else None}
        for name in ("topic", "partition", "group", "client_id", "transactional_id", "delay_ms", "down_ms",
                     "times", "probability"):
            out[name] = getattr(self, name)
        out["error"] = self.error.name if self.error is not None else None
        out["drop"], out["close"], out["hits"] = self.drop, self.close, self.hits
        out["active"] = self.times != 0
        return out

    def matches(self, request: Request, targets: Targets) -> bool:
        if self.api_key is not None and self.api_key != request.api_key:
            return False
        if self.client_id is not None and self.client_id != request.client_id:
            return False
        if self.group is not None and self.group not in targets.groups:
            return False
        if self.transactional_id is not None and self.transactional_id != targets.transactional_id:
            return False
        if self.topic is not None:
            return any(self.covers(t, p) for t, parts in targets.topics for p in (parts or [None]))
        return True

    def covers(self, topic: str | None, partition: int | None) -> bool:
        """Does this rule's topic/partition scope include (topic, partition)?"""
        if self.topic is None:
            return True
        if topic != self.topic:
            return False
        return self.partition is None or partition is None or partition == self.partition


@dataclass(slots=True)
class Targets:
    """What a request is about, for matching: (topic, partitions or None) pairs, groups, txn id."""

    topics: list[tuple[str | None, list[int] | None]] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    transactional_id: str | None = None


class FaultRules:
    """The broker's fault rules (all state lives on the broker's event loop)."""

    def __init__(self, listeners: list[Any] | None = None) -> None:
        self.rules: list[FaultRule] = []  # active rules, in the order they are tried
        self.spent: list[FaultRule] = []  # rules that acted their ``times``
        self._ids = itertools.count(1)
        self.listeners = listeners if listeners is not None else []  # the broker's servers

    def down(self, ms: int | None) -> None:
        """Broker down: every listener refuses connections and closes its open ones for ``ms``
        (None: until ``up()``), as a stopped Kafka broker would."""
        for listener in self.listeners:
            listener.go_down(ms)

    def up(self) -> None:
        for listener in self.listeners:
            listener.go_up()

    def add(self, spec: dict[str, Any] | None = None, **fields: Any) -> FaultRule:
        rule = FaultRule.parse(next(self._ids), {**(spec or {}), **fields})
        self.rules.append(rule)
        log.info("fault rule %d added: %s", rule.id, {k: v for k, v in rule.to_json().items() if v not in (None, False)})
        return rule

    def get(self, rule_id: int) -> FaultRule | None:
        return next((r for r in self.rules + self.spent if r.id == rule_id), None)

    def remove(self, rule_id: int) -> bool:
        rule = self.get(rule_id)
        if rule is not None:
            (self.rules if rule in self.rules else self.spent).remove(rule)
        return rule is not None

    def clear(self) -> int:
        n = len(self.rules) + len(self.spent)
        self.rules.clear()
        self.spent.clear()
        return n

    def list(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in sorted(self.rules + self.spent, key=lambda r: r.id)]

    def _pick(self, request: Request, targets: Targets) -> FaultRule | None:
        for rule in self.rules:
            if not rule.matches(request, targets):
                continue
            if rule.probability is not None and random.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:  # spent: listed (with its hits) until deleted, never matched
                    self.rules.remove(rule)
                    self.spent.append(rule)
            return rule
        return None

    async def apply(self, request: Request, topic_name: Callable[[Any], str | None],
                    handle: Callable[[Request], Awaitable[Any]]) -> Any:
        """Act on ``request`` if a rule matches: returns a response, a FaultAction, or None (no rule).

        ``handle(request)`` answers a (possibly narrowed) request normally; ``topic_name(uuid)``
        resolves topic ids (Fetch v13+)."""
        from kafkaish.fault_responses import error_answer, targets_of

        if request.body is None:
            return None
        targets = targets_of(request, topic_name)
        rule = self._pick(request, targets)
        if rule is None:
            return None
        log.info("fault rule %d acts on %s v%d from %s", rule.id, API_NAMES.get(request.api_key),
                 request.api_version, request.client_id)
        if rule.delay_ms:
            await asyncio.sleep(rule.delay_ms / 1000)
        if rule.down_ms is not None:
            self.down(rule.down_ms)
            return FaultAction.CLOSE
        if rule.close:
            return FaultAction.CLOSE
        if rule.drop:
            return FaultAction.DROP
        if rule.error is not None:
            return await error_answer(request, rule, topic_name, handle)
        return await handle(request)  # delay only
