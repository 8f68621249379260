"""Hand-written codecs for the produce hot path: ProduceRequest decoding, ProduceResponse encoding.

The generic codec (``kafkaish.wire.protocol``) costs one closure call, one ``setattr`` and a
bounds check per field, a default-value pass per struct and, when encoding a flexible
response, a fresh default ``LeaderIdAndEpoch`` per partition to compare the tagged field
against. With many partitions per request that is most of the broker's produce CPU (issue #15).
These codecs do the same work with one ``struct`` call per partition and build the same
generated objects, so handlers, fault rules and tests see no difference.

Each is a *fast path* in front of the generic codec, never a replacement: anything unusual
(tagged fields, a malformed or truncated request, an error answer carrying record errors,
messages or leader hints, values out of range) goes to the generic codec, which decodes
it or raises exactly what it always did. ``tests/wire/test_produce_fast.py`` checks both
paths give identical results. ``install()`` plugs them into the generated classes
(``Struct._fast_codec``); ``kafkaish.handlers.produce`` calls it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from kafkaish.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkaish.wire.protocol import read_uvarint

_Request = ProduceRequest
_TopicData = ProduceRequest.TopicProduceData
_PartitionData = ProduceRequest.PartitionProduceData
_Response = ProduceResponse
_TopicResponse = ProduceResponse.TopicProduceResponse
_PartitionResponse = ProduceResponse.PartitionProduceResponse
_LeaderIdAndEpoch = ProduceResponse.LeaderIdAndEpoch
FLEXIBLE_MIN = 9

_I16 = struct.Struct(">h").unpack_from
_I32 = struct.Struct(">i").unpack_from
_ACKS_TIMEOUT = struct.Struct(">hi").unpack_from
_INDEX_LEN = struct.Struct(">ii").unpack_from
_INDEX = struct.Struct(">i").unpack_from
_PACK_I16 = struct.Struct(">h").pack
_PACK_I32 = struct.Struct(">i").pack
_new = object.__new__


class _Fallback(Exception):
    """Not the common case: let the generic codec handle the whole message."""


def _uvarint(d: Any, p: int) -> tuple[int, int]:
    b = d[p]
    if b < 0x80:
        return b, p + 1
    return read_uvarint(d, p)


def _request_reader(version: int, generic: Callable[[Any, int], tuple[Any, int]]) -> Callable[[Any, int], tuple[Any, int]]:
    flexible = version >= FLEXIBLE_MIN
    has_txn = version >= 3

    def read_fast(d: Any, p: int) -> tuple[Any, int]:
        size = len(d)
        view = type(d) is memoryview
        txn = None
        if flexible:
            if has_txn:
                n, p = _uvarint(d, p)
                if n:
                    end = p + n - 1
                    if end > size:
                        raise _Fallback
                    txn, p = str(d[p:end], "utf-8"), end
            acks, timeout = _ACKS_TIMEOUT(d, p)
            ntopics, p = _uvarint(d, p + 6)
            ntopics -= 1
        else:
            if has_txn:
                n = _I16(d, p)[0]
                p += 2
                if n >= 0:
                    end = p + n
                    if end > size:
                        raise _Fallback
                    txn, p = str(d[p:end], "utf-8"), end
            acks, timeout = _ACKS_TIMEOUT(d, p)
            ntopics = _I32(d, p + 6)[0]
            p += 10
        if ntopics < 0 or ntopics > size - p:
            raise _Fallback  # null or impossible: the generic codec says which
        topics = []
        for _ in range(ntopics):
            if flexible:
                n, p = _uvarint(d, p)
                n -= 1
            else:
                n = _I16(d, p)[0]
                p += 2
            end = p + n
            if n < 0 or end > size:
                raise _Fallback
            name = str(d[p:end], "utf-8")
            if flexible:
                nparts, p = _uvarint(d, end)
                nparts -= 1
            else:
                nparts = _I32(d, end)[0]
                p = end + 4
            if nparts < 0 or nparts > size - p:
                raise _Fallback
            parts = []
            for _ in range(nparts):
                if flexible:
                    index = _INDEX(d, p)[0]
                    n, p = _uvarint(d, p + 4)
                    n -= 1
                else:
                    index, n = _INDEX_LEN(d, p)
                    p += 8
                if n < 0:
                    records = None
                else:
                    end = p + n
                    if end > size:
                        raise _Fallback
                    records = d[p:end] if view else bytes(d[p:end])
                    p = end
                if flexible:
                    if d[p]:  # tagged fields: the generic codec keeps them
                        raise _Fallback
                    p += 1
                part = _new(_PartitionData)
                part._unknown_tags = None
                part.index = index
                part.records = records
                parts.append(part)
            if flexible:
                if d[p]:
                    raise _Fallback
                p += 1
            topic = _new(_TopicData)
            topic._unknown_tags = None
            topic.name = name
            topic.partition_data = parts
            topics.append(topic)
        if flexible:
            if d[p]:
                raise _Fallback
            p += 1
        req = _new(_Request)
        req._unknown_tags = None
        req.transactional_id = txn
        req.acks = acks
        req.timeout_ms = timeout
        req.topic_data = topics
        return req, p

    def read(d: Any, p: int) -> tuple[Any, int]:
        try:
            return read_fast(d, p)
        except (_Fallback, struct.error, IndexError, ValueError):  # ValueError: UnicodeDecodeError too
            return generic(d, p)

    return read


def _uvarint_bytes(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _response_writer(version: int, generic: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    flexible = version >= FLEXIBLE_MIN
    fmt = ">ihq" + ("q" if version >= 2 else "") + ("q" if version >= 5 else "")
    pack = struct.Struct(fmt).pack
    # record_errors (empty), error_message (null) from v8, then the partition's tag section
    if version >= FLEXIBLE_MIN:
        tail = b"\x01\x00\x00"
    elif version >= 8:
        tail = _PACK_I32(0) + _PACK_I16(-1)
    else:
        tail = b""
    has_lat, has_lso, has_errors = version >= 2, version >= 5, version >= 8
    tagged_leader = version >= 10
    throttle = version >= 1

    def count(n: int) -> bytes:
        return _uvarint_bytes(n + 1) if flexible else _PACK_I32(n)

    def write_fast(out: Any, obj: Any) -> None:
        if type(obj) is not _Response or obj._unknown_tags is not None:
            raise _Fallback
        if tagged_leader and obj.node_endpoints != []:
            raise _Fallback
        pieces = [count(len(obj.responses))]
        append = pieces.append
        for topic in obj.responses:
            if type(topic) is not _TopicResponse or topic._unknown_tags is not None:
                raise _Fallback
            name = topic.name.encode("utf-8")
            append((_uvarint_bytes(len(name) + 1) if flexible else _PACK_I16(len(name))) + name)
            parts = topic.partition_responses
            append(count(len(parts)))
            for p in parts:
                if type(p) is not _PartitionResponse or p._unknown_tags is not None:
                    raise _Fallback
                if has_errors and (p.record_errors or p.error_message is not None):
                    raise _Fallback
                if tagged_leader:
                    leader = p.current_leader
                    if type(leader) is not _LeaderIdAndEpoch or leader._unknown_tags is not None \
                            or leader.leader_id != -1 or leader.leader_epoch != -1:
                        raise _Fallback
                if has_lso:
                    append(pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset))
                elif has_lat:
                    append(pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms))
                else:
                    append(pack(p.index, p.error_code, p.base_offset))
                if tail:
                    append(tail)
            if flexible:
                append(b"\x00")
        if throttle:
            append(_PACK_I32(obj.throttle_time_ms))
        if flexible:
            append(b"\x00")
        out.buf += b"".join(pieces)

    def write(out: Any, obj: Any) -> None:
        try:
            write_fast(out, obj)
        except (_Fallback, struct.error, TypeError, AttributeError, UnicodeEncodeError):
            generic(out, obj)  # writes the message, or raises what it always raised

    return write


def _request_codec(version: int, generic: tuple[Callable, Callable]) -> tuple[Callable, Callable]:
    return _request_reader(version, generic[0]), generic[1]


def _response_codec(version: int, generic: tuple[Callable, Callable]) -> tuple[Callable, Callable]:
    return generic[0], _response_writer(version, generic[1])


def install() -> None:
    """Put the fast paths in front of the generic codecs of ProduceRequest and ProduceResponse."""
    for cls, fast in ((ProduceRequest, _request_codec), (ProduceResponse, _response_codec)):
        if cls._fast_codec is not fast:
            cls._fast_codec = fast
            cls._CODECS.clear()  # versions compiled before now get their fast path too


def _no_leader() -> Any:
    leader = _new(_LeaderIdAndEpoch)
    leader._unknown_tags = None
    leader.leader_id = leader.leader_epoch = -1
    return leader


# The default current_leader (-1, -1) of every successful answer, shared: nothing mutates a
# response's current_leader (an error answer gets a new one), and one object less per partition.
_NO_LEADER = _no_leader()


def partition_response(index: int, base_offset: int, log_append_time_ms: int,
                       log_start_offset: int) -> ProduceResponse.PartitionProduceResponse:
    """A successful partition answer, as ``PartitionProduceResponse(...)`` builds it without the
    keyword and default-filling machinery (one per partition of every Produce)."""
    p = _new(_PartitionResponse)
    p._unknown_tags = None
    p.index = index
    p.error_code = 0
    p.base_offset = base_offset
    p.log_append_time_ms = log_append_time_ms
    p.log_start_offset = log_start_offset
    p.record_errors = []
    p.error_message = None
    p.current_leader = _NO_LEADER
    return p


def topic_response(name: str, parts: list[Any]) -> ProduceResponse.TopicProduceResponse:
    """``TopicProduceResponse(name=..., partition_responses=...)`` without the default-filling
    machinery (once per topic of every Produce)."""
    t = _new(_TopicResponse)
    t._unknown_tags = None
    t.name = name
    t.partition_responses = parts
    return t


def response(responses: list[Any]) -> ProduceResponse:
    """``ProduceResponse(responses=..., throttle_time_ms=0)``, likewise (once per Produce)."""
    r = _new(_Response)
    r._unknown_tags = None
    r.responses = responses
    r.throttle_time_ms = 0
    r.node_endpoints = []
    return r
