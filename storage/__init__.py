"""kafkaish.storage: partition logs behind one engine interface (memory and file).

Installed as ``kafkaish.storage``; a top-level ``storage`` import is refused.
"""

if __name__ != "kafkaish.storage":  # pragma: no cover - exercised by tests/test_packaging.py
    raise ImportError(
        f"this package must be imported as kafkaish.storage, not {__name__!r}; "
        "install kafkaish (pip install -e .) instead of putting the repo root on sys.path"
    )
