"""kafkaish.wire: the sans-IO Kafka protocol codec.

No sockets, no asyncio: bytes in, typed messages out, and back. Installed as
``kafkaish.wire`` (setuptools package-dir); importing it as a top-level ``wire``
package would shadow other distributions, so that is refused.
"""

if __name__ != "kafkaish.wire":  # pragma: no cover - exercised by tests/test_packaging.py
    raise ImportError(
        f"this package must be imported as kafkaish.wire, not {__name__!r}; "
        "install kafkaish (pip install -e .) instead of putting the repo root on sys.path"
    )
