"""Records as text: the JSON-lines form (consume --json, export, import, produce --json),
kcat-like format strings, and timestamps given as ISO-8601 or epoch milliseconds.

A record is one JSON object per line::

    {"partition": 0, "offset": 42, "timestamp": 1700000000000,
     "key": "k", "value": {"base64": "AAEC"}, "headers": [["h", "v"], ["bin", {"base64": "/w=="}]]}

Keys, values and header values are JSON strings when their bytes are valid UTF-8 and
``{"base64": ...}`` objects otherwise, ``null`` when null, so any record survives the round
trip byte for byte. Header order and repeated header names are kept (a list of pairs).
On input ``partition``, ``timestamp`` (epoch ms or ISO-8601), ``key`` and ``headers`` are
optional and ``offset``/``topic`` are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafkaish.cli.client import CliError
from kafkaish.wire.records import Record

Bytes = bytes | None
EXPORT_HEADER_KEY = "kafkaish-export"


class LineError(CliError):
    """A malformed input line; the message starts with its line number."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(f"line {lineno}: {message}")
        self.lineno = lineno


@dataclass(slots=True)
class OutRecord:
    """A record to produce: the partition and timestamp are None when not given."""

    key: Bytes
    value: Bytes
    headers: list[tuple[str, Bytes]] = field(default_factory=list)
    partition: int | None = None
    timestamp: int | None = None

    @property
    def size(self) -> int:
        return (len(self.key or b"") + len(self.value or b"") + 20
                + sum(len(k) + len(v or b"") + 4 for k, v in self.headers))


# --------------------------------------------------------------------------- bytes


def bytes_to_json(data: Bytes) -> Any:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def json_to_bytes(value: Any, what: str, lineno: int) -> Bytes:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise LineError(lineno, f"{what} is not valid Unicode") from None
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise LineError(lineno, f"{what} is not valid base64") from None
    raise LineError(lineno, f"{what} must be a string, {{\"base64\": ...}} or null")


# --------------------------------------------------------------------------- JSON lines


def record_to_dict(partition: int, record: Record, topic: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if topic is not None:
        out["topic"] = topic
    out["partition"] = partition
    out["offset"] = record.offset
    out["timestamp"] = record.timestamp
    out["key"] = bytes_to_json(record.key)
    out["value"] = bytes_to_json(record.value)
    out["headers"] = [[k, bytes_to_json(v)] for k, v in record.headers]
    return out


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string = json.encoder.encode_basestring  # the C encoder of a JSON string literal


def _bytes_json(data: Bytes) -> str:
    if data is None:
        return "null"
    try:
        return _string(data.decode("utf-8"))
    except UnicodeDecodeError:
        return '{"base64":"' + base64.b64encode(data).decode("ascii") + '"}'


def record_to_json(partition: int, record: Record, topic: str | None = None) -> str:
    """``json.dumps(record_to_dict(...))`` in compact form, written out by hand: the hot path of
    export and consume --json."""
    headers = ",".join(f"[{_string(k)},{_bytes_json(v)}]" for k, v in record.headers) if record.headers else ""
    head = f'{{"topic":{_string(topic)},' if topic is not None else "{"
    return (f'{head}"partition":{partition},"offset":{record.offset},"timestamp":{record.timestamp},'
            f'"key":{_bytes_json(record.key)},"value":{_bytes_json(record.value)},"headers":[{headers}]}}')


def parse_json_record(line: str | bytes, lineno: int) -> OutRecord | None:
    """One input line -> OutRecord; None for an export header line; LineError if malformed."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise LineError(lineno, f"not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise LineError(lineno, "expected a JSON object")
    if EXPORT_HEADER_KEY in obj:
        return None
    partition = obj.get("partition")
    if partition is not None and (not isinstance(partition, int) or isinstance(partition, bool) or partition < 0):
        raise LineError(lineno, f"partition must be a non-negative integer, got {partition!r}")
    timestamp = obj.get("timestamp")
    if timestamp is not None:
        if isinstance(timestamp, str):
            try:
                timestamp = parse_timestamp(timestamp)
            except CliError as e:
                raise LineError(lineno, str(e)) from None
        elif not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise LineError(lineno, f"timestamp must be epoch milliseconds or ISO-8601, got {timestamp!r}")
    headers_in = obj.get("headers") or []
    if isinstance(headers_in, dict):  # {"name": "value"} is accepted too
        headers_in = list(headers_in.items())
    if not isinstance(headers_in, list):
        raise LineError(lineno, "headers must be a list of [name, value] pairs")
    headers = []
    for pair in headers_in:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            raise LineError(lineno, f"header {pair!r} is not a [name, value] pair")
        headers.append((pair[0], json_to_bytes(pair[1], f"header {pair[0]!r}", lineno)))
    if "value" not in obj:
        raise LineError(lineno, "no \"value\" field")
    return OutRecord(json_to_bytes(obj.get("key"), "key", lineno), json_to_bytes(obj["value"], "value", lineno),
                     headers, partition, timestamp)


def export_header(topic: str, partitions: int) -> str:
    return _dumps({EXPORT_HEADER_KEY: 1, "topic": topic, "partitions": partitions})


# --------------------------------------------------------------------------- timestamps


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds from ``1700000000000`` or ISO-8601 (``2024-01-31T12:00:00Z``).

    A date-time without a zone is local time, as kafka-consumer-groups' --to-datetime reads it.
    """
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise CliError(f"bad timestamp {text!r}: expected ISO-8601 (2024-01-31T12:00:00Z) "
                       "or epoch milliseconds") from None
    return round(moment.timestamp() * 1000)


_DURATION = re.compile(r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse_duration_ms(text: str) -> int:
    """ISO-8601 duration ``PnDTnHnMnS`` (java.time.Duration's form) in milliseconds."""
    m = _DURATION.fullmatch(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT") or not any(m.groups()):
        raise CliError(f"bad duration {text!r}: expected ISO-8601 like PT1H30M or P1DT2H")
    days, hours, minutes, seconds = (float(g or 0) for g in m.groups())
    return round(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000)


# --------------------------------------------------------------------------- -f formats


_TOKEN = re.compile(r"%[tpoTkKsShH%]|\\[nrt\\]")
_ESCAPES = {"\\n": b"\n", "\\r": b"\r", "\\t": b"\t", "\\\\": b"\\"}


def compile_format(fmt: str, topic: str) -> Callable[[int, Record], bytes]:
    """A kcat ``-f``-like formatter: %t topic, %p partition, %o offset, %T timestamp, %k key,
    %K key length, %s value, %S value length, %h headers (name=value,...), %H header count,
    %% percent; \\n \\r \\t escapes. Null keys/values print as nothing (length -1)."""
    parts: list[Any] = []
    pos = 0
    for m in _TOKEN.finditer(fmt):
        if m.start() > pos:
            parts.append(fmt[pos:m.start()].encode())
        parts.append(m.group())
        pos = m.end()
    if pos < len(fmt):
        parts.append(fmt[pos:].encode())
    topic_bytes = topic.encode()

    def render(partition: int, r: Record) -> bytes:
        out = bytearray()
        for p in parts:
            if isinstance(p, bytes):
                out += p
            elif p in _ESCAPES:
                out += _ESCAPES[p]
            elif p == "%s":
                out += r.value or b""
            elif p == "%k":
                out += r.key or b""
            elif p == "%o":
                out += str(r.offset).encode()
            elif p == "%p":
                out += str(partition).encode()
            elif p == "%t":
                out += topic_bytes
            elif p == "%T":
                out += str(r.timestamp).encode()
            elif p == "%S":
                out += str(-1 if r.value is None else len(r.value)).encode()
            elif p == "%K":
                out += str(-1 if r.key is None else len(r.key)).encode()
            elif p == "%h":
                out += b",".join(k.encode() + b"=" + (v or b"") for k, v in r.headers)
            elif p == "%H":
                out += str(len(r.headers)).encode()
            elif p == "%%":
                out += b"%"
        return bytes(out)

    return render
