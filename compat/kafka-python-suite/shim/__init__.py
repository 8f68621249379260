"""kafkaish compat shim: makes kafka-python's sdist ``test/`` directory an importable package.

kafka-python's source distribution ships ``test/integration`` (and its conftest and
fixtures) but not ``test/__init__.py`` nor ``test/service.py``, which the fixtures
import. compat/kafka-python-suite/run.py copies this file and ``service.py`` into the
extracted ``test/`` directory. Written for kafkaish; no kafka-python code is copied.
"""
