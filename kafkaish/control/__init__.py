"""The control plane: inspect, fault-inject, reset, snapshot and drive the clock of a broker.

``plane.ControlPlane`` holds the operations (used by the Python API in ``kafkaish.testing``);
``app`` serves them as JSON over HTTP on the admin port (aiohttp, imported only when the admin
port is on). Route modules (``routes_*.py``) each add their routes to the app, so a feature
(metrics, a console, cluster controls) adds a module to ``app.ROUTE_MODULES``.
"""
