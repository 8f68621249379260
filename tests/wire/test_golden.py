"""Request frames captured from real clients (scripts/capture_golden.py) decode as expected.

Each frame must decode with the ServerCodec at the version the client chose, re-encode to
the same bytes, and carry what the capture flow sent (the golden record, topic, groups).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaish.wire.codec import ServerCodec, request_header_version
from kafkaish.wire.messages import API_NAMES, REQUESTS, request_class
from kafkaish.wire.messages.consumer_protocol_subscription import ConsumerProtocolSubscription
from kafkaish.wire.records import decode_records, iter_batches

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*/*.bin"))
ALL_VERSIONS = {k: (request_class(k).MIN_VERSION, request_class(k).MAX_VERSION) for k in REQUESTS}
NAME_TO_KEY = {v: k for k, v in API_NAMES.items()}


def decode(path: Path):
    return ServerCodec(ALL_VERSIONS).decode_frame(path.read_bytes())


def test_every_client_was_captured():
    assert {p.parent.name for p in FILES} == {"kafka-python", "aiokafka", "confluent-kafka"}
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_golden_frame_decodes_and_reencodes_byte_for_byte(path: Path):
    name, version = path.stem.rsplit("-v", 1)
    req = decode(path)
    assert (req.api_key, req.api_version) == (NAME_TO_KEY[name], int(version))
    assert req.client_id  # every client names itself
    header = req.header.encode(request_header_version(req.api_key, req.api_version))
    assert header + req.body.encode(req.api_version) == path.read_bytes()


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent-kafka"])
def test_golden_produce_carries_the_record(client: str):
    (path,) = GOLDEN.glob(f"{client}/Produce-v*.bin")
    body = decode(path).body
    (topic,) = body.topic_data
    assert topic.name == "golden"
    records = topic.partition_data[0].records
    recs = [r for pos, _ in iter_batches(records) for r in decode_records(records, pos)]
    assert [(r.key, r.value, r.headers) for r in recs] == [(b"golden-key", b"golden-value", [("golden-header", b"hv")])]


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent-kafka"])
def test_golden_join_group_subscribes_to_the_topic(client: str):
    (path,) = GOLDEN.glob(f"{client}/JoinGroup-v*.bin")
    body = decode(path).body
    assert body.protocol_type == "consumer" and body.group_id.startswith("golden-")
    for proto in body.protocols:
        raw = proto.metadata
        version = int.from_bytes(raw[:2], "big", signed=True)
        sub = ConsumerProtocolSubscription.decode(raw[2:], min(version, ConsumerProtocolSubscription.MAX_VERSION),
                                                  exact=False)
        assert sub.topics == ["golden"]
