"""Every generated message type round-trips at every version in Kafka's definitions."""

from __future__ import annotations

import importlib
import pkgutil
import random
import uuid
from typing import Any

import pytest

import kafkaish.wire.messages as messages_pkg
from kafkaish.wire.errors import ProtocolError
from kafkaish.wire.protocol import F, Message, Struct, _in

ALL_MESSAGES: list[type[Message]] = []
for info in pkgutil.iter_modules(messages_pkg.__path__):
    mod = importlib.import_module(f"kafkaish.wire.messages.{info.name}")
    for name in mod.__all__:
        cls = getattr(mod, name)
        if isinstance(cls, type) and issubclass(cls, Message):
            ALL_MESSAGES.append(cls)

CASES = [(cls, v) for cls in ALL_MESSAGES for v in range(cls.MIN_VERSION, cls.MAX_VERSION + 1)]


def sample_value(f: F, version: int, rnd: random.Random) -> Any:
    """A non-default value of field ``f`` that is legal at ``version``."""
    if f.is_array:
        return [sample_scalar(f, version, rnd) for _ in range(rnd.randint(1, 2))]
    if _in(f.nullable, version) and rnd.random() < 0.2:
        return None
    return sample_scalar(f, version, rnd)


def sample_scalar(f: F, version: int, rnd: random.Random) -> Any:
    k = f.kind
    if k == "struct":
        return sample_struct(f.struct, version, rnd)
    if k == "int8":
        return rnd.randint(-128, 127)
    if k == "int16":
        return rnd.randint(-(2**15), 2**15 - 1)
    if k == "uint16":
        return rnd.randint(0, 2**16 - 1)
    if k == "int32":
        return rnd.randint(-(2**31), 2**31 - 1)
    if k == "int64":
        return rnd.randint(-(2**63), 2**63 - 1)
    if k == "float64":
        return rnd.random() * 1e6
    if k == "bool":
        return True
    if k == "string":
        return rnd.choice(["t", "topic-é", "x" * 300, ""]) + str(rnd.randint(0, 9))
    if k in ("bytes", "records"):
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 40)))
    if k == "uuid":
        return uuid.UUID(int=rnd.getrandbits(128) | 1)
    raise AssertionError(k)


def sample_struct(cls: type[Struct], version: int, rnd: random.Random) -> Struct:
    kwargs = {f.name: sample_value(f, version, rnd) for f in cls._FIELDS if _in(f.versions, version)}
    return cls(**kwargs)


@pytest.mark.parametrize("cls,version", CASES, ids=[f"{c.__name__}-v{v}" for c, v in CASES])
def test_round_trip_every_version(cls: type[Message], version: int) -> None:
    rnd = random.Random(f"{cls.__name__}{version}")
    for _ in range(3):
        msg = sample_struct(cls, version, rnd)
        data = msg.encode(version)
        back = cls.decode(data, version)
        assert back == msg
        assert back.encode(version) == data


def test_default_instances_encode_at_every_version() -> None:
    for cls, v in CASES:
        assert cls.decode(cls().encode(v), v) == cls()


def test_truncated_input_is_a_protocol_error() -> None:
    from kafkaish.wire.messages.metadata import MetadataRequest

    msg = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="abc")])
    data = msg.encode(12)
    for cut in range(len(data)):
        with pytest.raises(ProtocolError):
            MetadataRequest.decode(data[:cut], 12)


def test_unknown_tagged_fields_are_skipped_and_preserved() -> None:
    from kafkaish.wire.messages.api_versions import ApiVersionsRequest

    base = ApiVersionsRequest(client_software_name="n", client_software_version="1").encode(3)
    # replace the empty trailing tag section with one unknown tag 7 carrying 3 bytes
    data = base[:-1] + bytes([1, 7, 3, 1, 2, 3])
    msg = ApiVersionsRequest.decode(data, 3)
    assert msg.client_software_name == "n"
    assert msg._unknown_tags == {7: b"\x01\x02\x03"}
    assert msg.encode(3) == data


def test_known_tagged_field_round_trips() -> None:
    from kafkaish.wire.messages.fetch import FetchResponse

    part = FetchResponse.PartitionData(partition_index=1, records=b"x")
    part.current_leader = FetchResponse.LeaderIdAndEpoch(leader_id=3, leader_epoch=4)
    resp = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[part])])
    back = FetchResponse.decode(resp.encode(12), 12)
    assert back.responses[0].partitions[0].current_leader.leader_id == 3
    # not carried before v12
    assert FetchResponse.decode(resp.encode(11), 11).responses[0].partitions[0].current_leader.leader_id == -1


def test_compact_vs_classic_string_encoding() -> None:
    from kafkaish.wire.messages.request_header import RequestHeader

    h = RequestHeader(request_api_key=3, request_api_version=12, correlation_id=7, client_id="abc")
    # ClientId keeps its int16 length even in the flexible header v2 (flexibleVersions "none")
    assert h.encode(2) == b"\x00\x03\x00\x0c\x00\x00\x00\x07\x00\x03abc\x00"
    assert h.encode(1) == b"\x00\x03\x00\x0c\x00\x00\x00\x07\x00\x03abc"
