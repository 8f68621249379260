"""GET /metrics (Prometheus text), /health/live and /health/ready."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kafkaish.control import metrics
from kafkaish.control.app import PLANE

routes = web.RouteTableDef()
REGISTRY: web.AppKey[Any] = web.AppKey("metrics_registry", object)


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    body = metrics.render(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE_LATEST})


@routes.get("/health/live")
async def live(request: web.Request) -> web.Response:
    """The process and its event loop answer."""
    return web.json_response({"status": "live"})


@routes.get("/health/ready")
async def ready(request: web.Request) -> web.Response:
    """503 until a Kafka listener accepts connections; recovery (opening the logs) ran before that."""
    plane = request.app[PLANE]
    listening = [s for s in plane.broker.listeners if not s.down]
    if not listening:
        return web.json_response({"status": "not ready", "reason": "no listener accepting connections"}, status=503)
    return web.json_response({"status": "ready", "listeners": [f"{s.host}:{s.port}" for s in listening]})


def setup(app: web.Application) -> None:
    app[REGISTRY] = metrics.registry(app[PLANE])
    app.router.add_routes(routes)
