"""The admin HTTP server: JSON over HTTP on the broker's own event loop (aiohttp).

``AdminServer(broker).start(host, port)`` serves ``build_app(broker)``. The app is assembled from
route modules: each has ``setup(app)`` adding its routes; ``app["plane"]`` is the broker's
``ControlPlane``. Errors are JSON: ``{"error": message, "field": name}`` with 400 for bad input
(naming the field), 404 for unknown names or routes, 501 where the broker lacks the feature.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kafkaish.control.plane import BadInput, ControlPlane, NotFound
from kafkaish.faults import FaultRuleError

if TYPE_CHECKING:
    from kafkaish.broker import Broker

log = logging.getLogger("kafkaish.control")

ROUTE_MODULES = ("kafkaish.control.routes_state", "kafkaish.control.routes_faults", "kafkaish.control.routes_ops",
                 "kafkaish.control.routes_observe", "kafkaish.control.routes_console")
PLANE: web.AppKey[ControlPlane] = web.AppKey("plane", ControlPlane)


def error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except (BadInput, FaultRuleError) as e:
        log.info("%s %s: bad input: %s", request.method, request.path, e)
        return error(400, e.message, e.field)
    except NotFound as e:
        return error(404, str(e.args[0]) if e.args else "not found")
    except NotImplementedError as e:
        return error(501, str(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error(e.status, e.reason)
    except Exception:
        log.exception("admin request %s %s failed", request.method, request.path)
        return error(500, "internal error (see the broker log)")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise BadInput("body", f"not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object")
    return body


def int_param(value: str | None, name: str, default: int | None = None) -> int | None:
    """A path or query parameter as an int, or BadInput naming it."""
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadInput(name, f"must be an integer (got {value!r})") from None


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


def openapi() -> dict[str, Any]:
    return json.loads(resources.files("kafkaish.control").joinpath("openapi.json").read_text())


async def _openapi(request: web.Request) -> web.Response:
    return ok(openapi())


def build_app(broker: Broker, modules: Iterable[str] = ROUTE_MODULES) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[PLANE] = ControlPlane(broker)
    app.router.add_get("/v1/openapi.json", _openapi)
    for name in modules:
        importlib.import_module(name).setup(app)
    return app


class AdminServer:
    """The admin port of one broker, served on the running event loop."""

    def __init__(self, broker: Broker, modules: Iterable[str] = ROUTE_MODULES) -> None:
        self.app = build_app(broker, modules)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str, port: int) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sock = server.sockets[0] if server is not None and server.sockets else None  # type: ignore[union-attr]
        self.host, self.port = host, (sock.getsockname()[1] if sock is not None else port)
        log.info("admin HTTP on %s", self.url)
        return self.url

    async def close(self) -> None:
        await self._runner.cleanup()
