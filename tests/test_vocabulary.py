"""Protocol numbers are named once, in kafkaish.wire (constants.py, messages.ApiKey, errors.ErrorCode).

Above wire, code says ``ZERO_UUID``, ``ApiKey.PRODUCE``, ``IsolationLevel.READ_COMMITTED``; a bare
number there is a second, silent definition that drifts. The scan below catches the usual
offenders; the synthetic test shows each pattern really fires.
"""

from __future__ import annotations

import re
from pathlib import Path

from kafkaish.wire import constants
from kafkaish.wire.compression import Codec
from kafkaish.wire.messages import REQUESTS, ApiKey

ROOT = Path(__file__).resolve().parent.parent
SCANNED = (ROOT / "kafkaish", ROOT / "storage")

OFFENDERS = {
    "zero uuid": r"uuid\.UUID\(\s*int\s*=\s*0\s*\)",
    "Int.MIN": r"-2147483648\b",
    "UNSUPPORTED_VERSION as 35": r"error_code\s*=\s*35\b",
    "bare api key": r"\bapi_key\s*[=!]=\s*\d",
    "bare compression id": r"\bcompression\s*[<>]=?\s*\d",
    "bare isolation level": r"\bisolation_level\s*[=!]=\s*\d",
    "a second LOG_OVERHEAD": r"\b_?LOG_OVERHEAD\s*=\s*\d",
    "a second zstd id": r"\bZSTD\s*=\s*\d",
}
_MATCHER = re.compile("|".join(f"(?P<g{i}>{p})" for i, p in enumerate(OFFENDERS.values())))
_NAMES = list(OFFENDERS)


def offenders(text: str) -> list[tuple[int, str, str]]:
    """(line number, offender name, line) for every bare protocol number in ``text``."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for m in _MATCHER.finditer(line):
            group = next(g for g, v in m.groupdict().items() if v is not None)
            hits.append((number, _NAMES[int(group[1:])], line.strip()))
    return hits


def test_no_bare_protocol_numbers_above_wire() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {what}: {line}"
        for directory in SCANNED
        for path in sorted(directory.rglob("*.py"))
        for n, what, line in offenders(path.read_text())
    ]
    assert not found, "name these with kafkaish.wire.constants / ApiKey / ErrorCode:\n" + "\n".join(found)


def test_the_matcher_catches_each_offender() -> None:
    snippet = "\n".join([
        "ZERO = uuid.UUID(int=0)",
        "NOT_REQUESTED = -2147483648",
        "return ApiVersionsResponse(error_code=35, api_keys=[])",
        "if request.api_key == 18:",
        "if header.compression > 4:",
        "committed = req.isolation_level == 1",
        "_LOG_OVERHEAD = 12",
        "ZSTD = 4",
    ])
    assert [what for _, what, _ in offenders(snippet)] == _NAMES
    clean = "\n".join([
        "topic_id = ZERO_UUID",
        "ops = AUTHORIZED_OPERATIONS_OMITTED",
        "error_code=ErrorCode.UNSUPPORTED_VERSION",
        "if request.api_key == ApiKey.API_VERSIONS:",
        "if header.compression > Codec.ZSTD:",
        "committed = req.isolation_level == IsolationLevel.READ_COMMITTED",
    ])
    assert offenders(clean) == []


def test_api_key_enum_matches_the_generated_index() -> None:
    assert {int(k) for k in ApiKey} == set(REQUESTS)
    assert ApiKey.PRODUCE == 0 and ApiKey.API_VERSIONS == 18 and ApiKey.DESCRIBE_TOPIC_PARTITIONS == 75
    for key in ApiKey:  # LIST_OFFSETS <-> ListOffsetsRequest
        assert REQUESTS[key][1].lower() == key.name.replace("_", "").lower() + "request"


def test_constants_carry_kafkas_values() -> None:
    # Values from Kafka's Java classes (AclOperation, ListOffsetsRequest, Records, CompressionType).
    assert constants.AUTHORIZED_OPERATIONS_OMITTED == -(2**31)
    assert constants.ZERO_UUID.int == 0
    assert constants.LOG_OVERHEAD == 12
    assert constants.TOPIC_OPERATIONS == sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
    assert constants.CLUSTER_OPERATIONS == sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
    assert constants.GROUP_OPERATIONS == (1 << 3) | (1 << 6) | (1 << 8)
    assert [s.value for s in constants.OffsetSpec] == [-1, -2, -3, -4, -5]
    assert Codec is constants.Codec and Codec.ZSTD == 4
