"""Kafka protocol primitives and the per-version codec compiler for generated messages.

Generated classes (``kafkaish.wire.messages.*``) carry a declarative ``_FIELDS`` table taken
from Kafka's JSON definitions. The first encode/decode of a (class, version) compiles that
table into a flat list of reader/writer closures, so the per-request cost is one Python call
per field and no per-field type dispatch.

Encoding rules (Kafka's ``protocol/types/Type.java``, ``MessageDataGenerator``):
- non-flexible: STRING int16 length (-1 null); BYTES, ARRAY, RECORDS int32 length (-1 null);
- flexible versions: COMPACT_* lengths as unsigned varint N+1 (0 = null), and every struct
  ends with a tagged-field section ``uvarint count, (uvarint tag, uvarint size, bytes)*``
  in ascending tag order; unknown tags are kept in ``_unknown_tags`` and re-emitted;
- a nullable struct field is prefixed with an int8 marker (-1 null, 1 present);
- ``uuid`` is 16 raw bytes.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any, Callable, ClassVar, NamedTuple

from kafkaish.wire.constants import ZERO_UUID  # noqa: F401 - re-exported to the generated modules
from kafkaish.wire.errors import LocalProtocolError, ProtocolError
from kafkaish.wire.zerocopy import RecordsView

LIST = "__list__"  # default marker: a fresh empty list
STRUCT = "__struct__"  # default marker: a fresh default instance of the field's struct


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")


class F(NamedTuple):
    """One field of a generated struct (see scripts/generate_messages.py)."""

    name: str
    kind: str  # int8..int64, uint16, float64, bool, string, bytes, uuid, records, struct
    is_array: bool
    versions: tuple[int, int] | None
    nullable: tuple[int, int] | None
    tag: int | None
    tagged: tuple[int, int] | None
    default: Any
    struct: Any  # the Struct subclass for kind == "struct"
    flexible: tuple[int, int] | None | str = None  # per-field flexibleVersions override


def _in(rng: tuple[int, int] | None, v: int) -> bool:
    return rng is not None and rng[0] <= v <= rng[1]


# --------------------------------------------------------------------------- primitives

def read_uvarint(d: bytes | memoryview, p: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        try:
            b = d[p]
        except IndexError:
            raise ProtocolError("truncated varint") from None
        p += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, p
        shift += 7
        if shift > 63:
            raise ProtocolError("varint too long")


def write_uvarint(out: bytearray, v: int) -> None:
    if v < 0:
        raise LocalProtocolError(f"negative unsigned varint {v}")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _need(d: bytes | memoryview, p: int, n: int) -> None:
    if n < 0 or p + n > len(d):
        raise ProtocolError(f"truncated: need {n} bytes at {p}, have {len(d) - p}")


def _fixed(st: struct.Struct) -> tuple[Callable, Callable]:
    size = st.size
    unpack = st.unpack_from
    pack = st.pack

    def read(d: Any, p: int) -> tuple[Any, int]:
        try:
            return unpack(d, p)[0], p + size
        except struct.error:
            raise ProtocolError("truncated fixed-width field") from None

    def write(out: Any, v: Any) -> None:
        try:
            out.buf += pack(v)
        except struct.error as e:
            raise LocalProtocolError(str(e)) from None

    return read, write


def _read_bool(d: Any, p: int) -> tuple[bool, int]:
    _need(d, p, 1)
    return d[p] != 0, p + 1


def _write_bool(out: Any, v: bool) -> None:
    out.buf.append(1 if v else 0)


def _read_uuid(d: Any, p: int) -> tuple[uuid.UUID, int]:
    _need(d, p, 16)
    return uuid.UUID(bytes=bytes(d[p : p + 16])), p + 16


def _write_uuid(out: Any, v: uuid.UUID) -> None:
    out.buf += v.bytes


def _length_codec(compact: bool, short: bool) -> tuple[Callable, Callable]:
    """Readers/writers of a length prefix; returned length -1 means null."""
    if compact:
        def read_len(d: Any, p: int) -> tuple[int, int]:
            n, p = read_uvarint(d, p)
            return n - 1, p

        def write_len(out: Any, n: int) -> None:
            write_uvarint(out.buf, n + 1)
        return read_len, write_len
    st = _I16 if short else _I32
    return _fixed(st)


class _Out:
    """Encoder output: a bytearray plus zero-copy parts (``RecordsView``s, e.g. file regions for sendfile)."""

    __slots__ = ("buf", "parts")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.parts: list[bytes | RecordsView] = []

    def chunk(self, obj: RecordsView) -> None:
        if self.buf:
            self.parts.append(bytes(self.buf))
            self.buf = bytearray()
        self.parts.append(obj)

    def finish(self) -> list[bytes | RecordsView]:
        if self.buf:
            self.parts.append(bytes(self.buf))
        return self.parts


def _blob_codec(kind: str, compact: bool, nullable: bool) -> tuple[Callable, Callable]:
    read_len, write_len = _length_codec(compact, short=(kind == "string"))
    is_str = kind == "string"
    is_records = kind == "records"

    def read(d: Any, p: int) -> tuple[Any, int]:
        n, p = read_len(d, p)
        if n < 0:
            if not nullable:
                raise ProtocolError(f"null {kind} in a non-nullable field")
            return None, p
        _need(d, p, n)
        raw = d[p : p + n]
        if is_str:
            try:
                return str(raw, "utf-8"), p + n
            except UnicodeDecodeError:
                raise ProtocolError("invalid utf-8 in string") from None
        if is_records and type(raw) is memoryview:
            return raw, p + n  # zero copy: a view of the frame (ServerCodec decodes a memoryview)
        return bytes(raw), p + n

    def write(out: Any, v: Any) -> None:
        if v is None:
            if not nullable:
                raise LocalProtocolError(f"null {kind} in a non-nullable field")
            write_len(out, -1)
            return
        if is_str:
            v = v.encode("utf-8")
        if kind == "records" and not isinstance(v, (bytes, bytearray, memoryview)):
            write_len(out, len(v))  # a kafkaish.wire.zerocopy.RecordsView: kept as its own part
            out.chunk(v)
            return
        write_len(out, len(v))
        out.buf += v

    return read, write


def _array_codec(elem: tuple[Callable, Callable], compact: bool, nullable: bool) -> tuple[Callable, Callable]:
    read_len, write_len = _length_codec(compact, short=False)
    read_elem, write_elem = elem

    def read(d: Any, p: int) -> tuple[Any, int]:
        n, p = read_len(d, p)
        if n < 0:
            if not nullable:
                raise ProtocolError("null array in a non-nullable field")
            return None, p
        if n > len(d) - p:  # every element takes at least one byte
            raise ProtocolError(f"array length {n} exceeds the remaining {len(d) - p} bytes")
        items = []
        append = items.append
        for _ in range(n):
            v, p = read_elem(d, p)
            append(v)
        return items, p

    def write(out: Any, v: Any) -> None:
        if v is None:
            if not nullable:
                raise LocalProtocolError("null array in a non-nullable field")
            write_len(out, -1)
            return
        write_len(out, len(v))
        for item in v:
            write_elem(out, item)

    return read, write


_FIXED = {
    "int8": _fixed(_I8),
    "int16": _fixed(_I16),
    "uint16": _fixed(_U16),
    "int32": _fixed(_I32),
    "int64": _fixed(_I64),
    "float64": _fixed(_F64),
    "bool": (_read_bool, _write_bool),
    "uuid": (_read_uuid, _write_uuid),
}


def _field_codec(f: F, version: int, flexible: bool) -> tuple[Callable, Callable]:
    compact = flexible
    if f.flexible is not None:  # per-field override, e.g. RequestHeader.ClientId "none"
        compact = _in(f.flexible, version) if f.flexible != "none" else False
    nullable = _in(f.nullable, version)
    if f.kind == "struct":
        elem = f.struct._codec(version, flexible)
        if not f.is_array and nullable:
            elem = _nullable_struct(elem)
    elif f.kind in _FIXED:
        elem = _FIXED[f.kind]
    else:
        elem = _blob_codec(f.kind, compact, nullable and not f.is_array)
    if f.is_array:
        return _array_codec(elem, compact, nullable)
    return elem


def _nullable_struct(elem: tuple[Callable, Callable]) -> tuple[Callable, Callable]:
    read_elem, write_elem = elem

    def read(d: Any, p: int) -> tuple[Any, int]:
        _need(d, p, 1)
        marker = _I8.unpack_from(d, p)[0]
        if marker < 0:
            return None, p + 1
        return read_elem(d, p + 1)

    def write(out: Any, v: Any) -> None:
        if v is None:
            out.buf += b"\xff"
        else:
            out.buf += b"\x01"
            write_elem(out, v)

    return read, write


# --------------------------------------------------------------------------- structs

class Struct:
    """Base of every generated struct; fields come from the class's ``_FIELDS`` table."""

    __slots__ = ("_unknown_tags",)
    _FIELDS: ClassVar[tuple[F, ...]] = ()
    _NAME: ClassVar[str] = ""
    _CODECS: ClassVar[dict[tuple[int, bool], tuple[Callable, Callable]]]
    # A hand-written fast path for a hot message (kafkaish.wire.produce_fast): given a version and
    # the compiled generic (read, write), returns the pair to use; it falls back to the generic one.
    _fast_codec: ClassVar[Callable[[int, tuple[Callable, Callable]], tuple[Callable, Callable]] | None] = None

    def __init__(self) -> None:  # generated subclasses with fields define their own
        self._unknown_tags: dict[int, bytes] | None = None

    def _init_defaults(self) -> None:
        for f in self._FIELDS:
            if getattr(self, f.name) is UNSET:
                setattr(self, f.name, _default(f))
        self._unknown_tags: dict[int, bytes] | None = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._CODECS = {}

    @classmethod
    def _codec(cls, version: int, flexible: bool) -> tuple[Callable, Callable]:
        key = (version, flexible)
        codec = cls._CODECS.get(key)
        if codec is None:
            codec = _compile(cls, version, flexible)
            if cls._fast_codec is not None:
                codec = cls._fast_codec(version, codec)
            cls._CODECS[key] = codec
        return codec

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._FIELDS)
        return f"{type(self).__name__.split('_', 1)[-1]}({inner})"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (uuids as str, bytes as hex) for logs, CLI --json and tests."""
        return {f.name: _plain(getattr(self, f.name)) for f in self._FIELDS}


def _plain(v: Any) -> Any:
    if isinstance(v, Struct):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def _default(f: F) -> Any:
    d = f.default
    if d == LIST:
        return []
    if d == STRUCT:
        return f.struct()
    return d


def _is_default(f: F, v: Any) -> bool:
    return v == _default(f)


def _compile(cls: type[Struct], version: int, flexible: bool) -> tuple[Callable, Callable]:
    """Build (read, write) closures for ``cls`` at ``version``."""
    plain: list[tuple[str, Callable, Callable]] = []
    tagged: dict[int, tuple[F, Callable, Callable]] = {}
    absent: list[F] = []
    for f in cls._FIELDS:
        if not _in(f.versions, version):
            absent.append(f)
            continue
        r, w = _field_codec(f, version, flexible)
        if flexible and f.tag is not None and _in(f.tagged, version):
            tagged[f.tag] = (f, r, w)
            absent.append(f)  # default until its tag is seen
        else:
            plain.append((f.name, r, w))
    new = cls.__new__

    def read(d: Any, p: int) -> tuple[Any, int]:
        obj = new(cls)
        obj._unknown_tags = None
        for f in absent:
            setattr(obj, f.name, _default(f))
        for name, r, _ in plain:
            v, p = r(d, p)
            setattr(obj, name, v)
        if flexible:
            p = _read_tags(d, p, obj, tagged)
        return obj, p

    def write(out: Any, obj: Any) -> None:
        if type(obj) is not cls:
            raise LocalProtocolError(f"expected {cls.__name__}, got {type(obj).__name__}")
        for name, _, w in plain:
            w(out, getattr(obj, name))
        if flexible:
            _write_tags(out, obj, tagged)

    return read, write


def _read_tags(d: Any, p: int, obj: Any, tagged: dict[int, tuple[F, Callable, Callable]]) -> int:
    count, p = read_uvarint(d, p)
    last = -1
    for _ in range(count):
        tag, p = read_uvarint(d, p)
        size, p = read_uvarint(d, p)
        _need(d, p, size)
        if tag <= last:
            raise ProtocolError("invalid or out-of-order tag")  # TaggedFields.java
        last = tag
        entry = tagged.get(tag)
        if entry is None:
            if obj._unknown_tags is None:
                obj._unknown_tags = {}
            obj._unknown_tags[tag] = bytes(d[p : p + size])
        else:
            f, r, _ = entry
            v, end = r(d[p : p + size], 0)
            setattr(obj, f.name, v)
        p += size
    return p


def _write_tags(out: Any, obj: Any, tagged: dict[int, tuple[F, Callable, Callable]]) -> None:
    fields: list[tuple[int, bytes]] = []
    for tag, (f, _, w) in tagged.items():
        v = getattr(obj, f.name)
        if not _is_default(f, v):
            sub = _Out()
            w(sub, v)
            fields.append((tag, bytes(sub.buf)))
    if obj._unknown_tags:
        fields.extend(obj._unknown_tags.items())
    fields.sort()
    write_uvarint(out.buf, len(fields))
    for tag, raw in fields:
        write_uvarint(out.buf, tag)
        write_uvarint(out.buf, len(raw))
        out.buf += raw


class Message(Struct):
    """A top-level request, response, header or data type."""

    __slots__ = ()
    API_KEY: ClassVar[int] = -1
    MIN_VERSION: ClassVar[int] = 0
    MAX_VERSION: ClassVar[int] = 0
    FLEXIBLE_MIN: ClassVar[int | None] = None

    @classmethod
    def is_flexible(cls, version: int) -> bool:
        return cls.FLEXIBLE_MIN is not None and version >= cls.FLEXIBLE_MIN

    @classmethod
    def _check_version(cls, version: int) -> None:
        if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
            raise LocalProtocolError(f"{cls.__name__} has no version {version}")

    def encode_parts(self, version: int) -> list[bytes | RecordsView]:
        """Encode as a list of bytes and zero-copy chunks (see ``_Out``)."""
        self._check_version(version)
        out = _Out()
        self._codec(version, self.is_flexible(version))[1](out, self)
        return out.finish()

    def encode(self, version: int) -> bytes:
        """The whole body in memory: a ``RecordsView`` part is read by the view itself (``bytes(view)``)."""
        return b"".join(p if isinstance(p, bytes) else bytes(p) for p in self.encode_parts(version))

    @classmethod
    def decode(cls, data: bytes | memoryview, version: int, *, exact: bool = True) -> Any:
        obj, end = cls.read_from(data, 0, version)
        if exact and end != len(data):
            raise ProtocolError(f"{cls.__name__} v{version}: {len(data) - end} trailing bytes")
        return obj

    @classmethod
    def read_from(cls, data: bytes | memoryview, pos: int, version: int) -> tuple[Any, int]:
        if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
            raise ProtocolError(f"{cls.__name__} has no version {version}")
        return cls._codec(version, cls.is_flexible(version))[0](data, pos)

