"""The handler index (``kafkaish.handlers.HANDLERS``) says what the handler modules register.

The broker answers ApiVersions from the index and imports a handler module on its API's first
request, so an index entry that differs from the module's ``@handler`` would advertise versions
the broker does not implement (or hide ones it does).
"""

from __future__ import annotations

from kafkaish.broker import handler_registry, load_handlers
from kafkaish.handlers import HANDLERS
from kafkaish.wire.messages import API_NAMES


def test_the_index_lists_every_registered_handler_with_its_module_and_versions() -> None:
    registry = load_handlers()
    registered = {}
    for key, (lo, hi) in registry.supported().items():
        spec = registry.get(key)
        assert spec is not None
        registered[key] = (spec.fn.__module__.rsplit(".", 1)[1], lo, hi)
    table = "\n".join(f'    {k}: ("{m}", {lo}, {hi}),  # {API_NAMES[k]}' for k, (m, lo, hi) in sorted(registered.items()))
    assert HANDLERS == registered, f"update HANDLERS in kafkaish/handlers/__init__.py to:\n{table}"


def test_the_lazy_registry_advertises_what_the_loaded_one_does() -> None:
    assert handler_registry().supported() == load_handlers().supported()
    assert handler_registry().supported({3: 9}) == {**load_handlers().supported(), 3: (0, 9)}
