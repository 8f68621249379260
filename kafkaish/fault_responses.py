"""Error answers for fault rules, in each API's own response shape.

Like Kafka's ``AbstractRequest.getErrorResponse``, an error is put where the client looks for
it: on every partition (Produce, Fetch, ListOffsets, OffsetCommit, ...), on every topic
(Metadata, CreateTopics, DeleteTopics), on every key (FindCoordinator v4+, DescribeGroups,
DeleteGroups) or at the top (JoinGroup, FindCoordinator v0-3, InitProducerId, ...). The shapes
are found from the generated message schemas (``_FIELDS``), so every API is covered.

When a rule is scoped to a topic or partition, only that part of the request fails: the rest is
answered normally by the real handler, as a broker that leads some partitions and not others
would answer.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from kafkaish.faults import FaultRule, Targets
from kafkaish.registry import FaultAction
from kafkaish.wire.constants import CoordinatorType
from kafkaish.wire.messages import ApiKey, response_class

if TYPE_CHECKING:
    from kafkaish.wire.codec import Request

_NAME_ATTRS = ("name", "topic", "topic_name")
_INDEX_ATTRS = ("index", "partition_index", "partition")
_INT_PARTITION_LISTS = ("partition_indexes", "partitions")
# APIs whose request lists plain keys and whose response has one entry (with an error) per key:
# api key -> (request list, response list, response key attribute)
_KEYED = {
    ApiKey.FIND_COORDINATOR: ("coordinator_keys", "coordinators", "key"),
    ApiKey.DESCRIBE_GROUPS: ("groups", "groups", "group_id"),
    ApiKey.DELETE_GROUPS: ("groups_names", "results", "group_id"),
    ApiKey.DESCRIBE_TRANSACTIONS: ("transactional_ids", "transaction_states", "transactional_id"),
    ApiKey.CONSUMER_GROUP_DESCRIBE: ("group_ids", "groups", "group_id"),
}


def _in_version(f: Any, version: int) -> bool:
    return f.versions is not None and f.versions[0] <= version <= f.versions[1]


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Where topics and partitions sit in one struct-list field of a message."""

    field: str
    name_attr: str | None  # topic name attribute
    id_attr: str | None  # topic id attribute
    parts_attr: str | None  # partitions list attribute
    parts_are_ints: bool
    index_attr: str | None  # partition index attribute of a partition struct
    error_attr: str | None  # error attribute of the partition struct (or topic struct if no partitions)
    struct: Any
    part_struct: Any


def _error_field(struct: Any) -> str | None:
    return next((f.name for f in struct._FIELDS if f.name.endswith("error_code")), None)


def _shape_of(f: Any) -> _Shape | None:
    if f.kind != "struct" or not f.is_array:
        return None
    names = {g.name: g for g in f.struct._FIELDS}
    name_attr = next((a for a in _NAME_ATTRS if a in names and names[a].kind == "string"), None)
    id_attr = "topic_id" if "topic_id" in names else None
    if name_attr is None and id_attr is None:
        return None
    for g in f.struct._FIELDS:
        if g.is_array and g.kind == "int32" and g.name in _INT_PARTITION_LISTS:
            return _Shape(f.name, name_attr, id_attr, g.name, True, None, None, f.struct, None)
        if g.is_array and g.kind == "struct":
            sub = {h.name for h in g.struct._FIELDS}
            index = next((a for a in _INDEX_ATTRS if a in sub), None)
            if index is not None:
                return _Shape(f.name, name_attr, id_attr, g.name, False, index, _error_field(g.struct), f.struct,
                              g.struct)
    return _Shape(f.name, name_attr, id_attr, None, False, None, _error_field(f.struct), f.struct, None)


@lru_cache(maxsize=None)
def _shapes(cls: type) -> tuple[tuple[Any, _Shape], ...]:
    out = []
    for f in cls._FIELDS:
        shape = _shape_of(f)
        if shape is not None:
            out.append((f, shape))
    return tuple(out)


def _request_topics(body: Any, version: int) -> tuple[_Shape, list[Any]] | None:
    for f, shape in _shapes(type(body)):
        if f.name != "forgotten_topics_data" and _in_version(f, version) and getattr(body, f.name):
            return shape, list(getattr(body, f.name))
    return None


def _entry_topic(entry: Any, shape: _Shape, topic_name: Callable[[Any], str | None]) -> str | None:
    name = getattr(entry, shape.name_attr) if shape.name_attr else None
    if not name and shape.id_attr:
        return topic_name(getattr(entry, shape.id_attr))
    return name


def _entry_partitions(entry: Any, shape: _Shape) -> list[Any] | None:
    if shape.parts_attr is None:
        return None
    return list(getattr(entry, shape.parts_attr) or [])


def _index(p: Any, shape: _Shape) -> int:
    return int(p) if shape.parts_are_ints else int(getattr(p, shape.index_attr))  # type: ignore[arg-type]


def targets_of(request: Request, topic_name: Callable[[Any], str | None]) -> Targets:
    """The topics, partitions, groups and transactional id a request is about."""
    body, version = request.body, request.api_version
    t = Targets()
    found = _request_topics(body, version)
    if found is not None:
        shape, entries = found
        for e in entries:
            parts = _entry_partitions(e, shape)
            t.topics.append((_entry_topic(e, shape, topic_name),
                             None if parts is None else [_index(p, shape) for p in parts]))
    names = getattr(body, "topic_names", None)  # DeleteTopics v0-5
    if isinstance(names, list) and not t.topics:
        t.topics.extend((n, None) for n in names)
    group = getattr(body, "group_id", None)
    if isinstance(group, str) and group:
        t.groups.add(group)
    txn = getattr(body, "transactional_id", None)
    t.transactional_id = txn if isinstance(txn, str) else None
    if request.api_key == ApiKey.FIND_COORDINATOR:
        keys = list(body.coordinator_keys or []) if version >= 4 else [body.key]
        if body.key_type == CoordinatorType.GROUP:
            t.groups.update(keys)
        elif keys:
            t.transactional_id = keys[0]
    elif request.api_key in _KEYED:
        t.groups.update(k for k in getattr(body, _KEYED[request.api_key][0]) or [] if isinstance(k, str))
    for g in getattr(body, "groups", None) or []:  # OffsetFetch v8+
        if hasattr(g, "group_id"):
            t.groups.add(g.group_id)
    return t


def _error_struct(cls: Any, code: int, error_attr: str | None, **fields: Any) -> Any:
    """A response struct for a failed item: Kafka answers -1 for offsets and epochs it cannot know."""
    obj = cls(**fields)
    for f in cls._FIELDS:
        if f.name in fields or f.is_array:
            continue
        if f.kind == "int64" or (f.kind == "int32" and ("epoch" in f.name or f.name.endswith("node_id"))):
            setattr(obj, f.name, -1)
    if error_attr:
        setattr(obj, error_attr, code)
    return obj


def _response_shape(resp_cls: type, version: int) -> _Shape | None:
    return next((s for f, s in _shapes(resp_cls) if _in_version(f, version)
                 and (s.parts_attr is None or s.error_attr is not None) and f.name != "node_endpoints"
                 and f.name != "brokers"), None)


def _add_errors(resp: Any, version: int, failed: list[tuple[Any, str | None, list[int] | None]], code: int) -> bool:
    """Append error entries for ``failed`` (request entry, topic name, partition indexes)."""
    shape = _response_shape(type(resp), version)
    if shape is None:
        return False
    entries = getattr(resp, shape.field)
    by_topic = {(getattr(e, shape.name_attr) if shape.name_attr else None,
                 getattr(e, shape.id_attr) if shape.id_attr else None): e for e in entries}
    for req_entry, name, parts in failed:
        topic_id = getattr(req_entry, "topic_id", None)
        key = (name if shape.name_attr else None, topic_id if shape.id_attr else None)
        fields: dict[str, Any] = {}
        if shape.name_attr:
            fields[shape.name_attr] = name or ""
        if shape.id_attr and topic_id is not None:
            fields[shape.id_attr] = topic_id
        if shape.parts_attr is None or parts is None:  # a topic-level error (Metadata, CreateTopics, ...)
            entries.append(_error_struct(shape.struct, code, _error_field(shape.struct), **fields))
            continue
        entry = by_topic.get(key)
        if entry is None:
            entry = shape.struct(**fields, **{shape.parts_attr: []})
            entries.append(entry)
            by_topic[key] = entry
        getattr(entry, shape.parts_attr).extend(
            _error_struct(shape.part_struct, code, shape.error_attr, **{shape.index_attr: p})  # type: ignore[misc]
            for p in parts or [])
    return True


def _split(request: Request, shape: _Shape, entries: list[Any], rule: FaultRule,
           topic_name: Callable[[Any], str | None]) -> tuple[list[Any], list[tuple[Any, str | None, list[int] | None]]]:
    """Entries answered normally and (entry, topic, partitions) answered with the error."""
    kept, failed = [], []
    for e in entries:
        name = _entry_topic(e, shape, topic_name)
        parts = _entry_partitions(e, shape)
        if parts is None:
            (failed.append((e, name, None)) if rule.covers(name, None) else kept.append(e))
            continue
        hit = [p for p in parts if rule.covers(name, _index(p, shape))]
        miss = [p for p in parts if not rule.covers(name, _index(p, shape))]
        if hit:
            failed.append((e, name, [_index(p, shape) for p in hit]))
        if miss:
            rest = copy.copy(e)
            setattr(rest, shape.parts_attr, miss)  # type: ignore[arg-type]
            kept.append(rest)
    return kept, failed


async def error_answer(request: Request, rule: FaultRule, topic_name: Callable[[Any], str | None],
                       handle: Callable[[Request], Awaitable[Any]]) -> Any:
    """The response ``request`` gets when ``rule`` answers its error code."""
    assert rule.error is not None
    code, body, version = int(rule.error), request.body, request.api_version
    if request.api_key == ApiKey.PRODUCE and body.acks == 0:
        return FaultAction.CLOSE  # Kafka closes an acks=0 producer's connection on a produce error
    if request.api_key == ApiKey.METADATA:  # keep the brokers: clients need them to go on
        resp = await handle(request)
        for t in resp.topics:
            if rule.covers(t.name, None):
                t.error_code, t.partitions = code, []
        return resp
    resp_cls = response_class(request.api_key)
    found = _request_topics(body, version)
    if found is not None:
        shape, entries = found
        kept, failed = _split(request, shape, entries, rule, topic_name)
        resp = None
        if kept:
            narrowed = copy.copy(body)
            setattr(narrowed, shape.field, kept)
            if request.api_key == ApiKey.FETCH:
                narrowed.max_wait_ms = 0  # a fetch with a failed partition answers at once
            resp = await handle(dataclasses.replace(request, body=narrowed))
            if not hasattr(resp, "_FIELDS"):
                return resp
        resp = resp if resp is not None else resp_cls()
        if _add_errors(resp, version, failed, code):
            return resp
    return _top_level(resp_cls(), request, code)


def _top_level(resp: Any, request: Request, code: int) -> Any:
    """Errors for APIs without topics: per key where the response has keys, else at the top."""
    version = request.api_version
    keyed = _KEYED.get(request.api_key)
    if keyed is not None:
        req_list, resp_list, key_attr = keyed
        f = next((f for f in type(resp)._FIELDS if f.name == resp_list), None)
        if f is not None and _in_version(f, version) and getattr(request.body, req_list, None):
            setattr(resp, resp_list, [
                _error_struct(f.struct, code, _error_field(f.struct), **{key_attr: k})
                for k in getattr(request.body, req_list)])
    groups = getattr(request.body, "groups", None)
    if request.api_key == ApiKey.OFFSET_FETCH and groups and hasattr(groups[0], "group_id"):  # OffsetFetch v8+
        struct = next(f.struct for f in type(resp)._FIELDS if f.name == "groups")
        resp.groups = [struct(group_id=g.group_id, error_code=code, topics=[]) for g in groups]
    for f in type(resp)._FIELDS:
        if f.name == "error_code":
            resp.error_code = code
        elif f.name in ("node_id", "port") and f.kind == "int32":
            setattr(resp, f.name, -1)
    return resp
