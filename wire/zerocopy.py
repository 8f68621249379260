"""The zero-copy seam: how a records field can carry file bytes the server sends with sendfile.

A ``records`` field of a message may hold bytes or any ``RecordsView``. Encoding keeps the view
as its own part (``Message.encode_parts``); the server asks the view for its chunks
(``write_to``) and sends each ``FileSpan`` with ``sendfile(2)``, the rest with ``write``. Code
that needs plain bytes (``Message.encode``, a non-sendfile transport) calls ``bytes(view)``: the
view does its own reading, so ``wire`` itself never touches a file.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable


class FileSpan(NamedTuple):
    """``count`` bytes at ``offset`` of the open file ``fd``, to be sent with sendfile."""

    fd: int
    offset: int
    count: int


@runtime_checkable
class RecordsView(Protocol):
    """Records that are not in memory yet (``kafkaish.storage.region.FileRegion``)."""

    def __len__(self) -> int: ...

    def write_to(self, chunks: list[bytes | FileSpan]) -> None:
        """Append the records as bytes and ``FileSpan`` chunks, in order."""

    def __bytes__(self) -> bytes:
        """Read the records into memory (for paths that cannot use sendfile)."""
