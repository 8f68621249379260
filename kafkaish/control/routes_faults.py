"""Fault rules over HTTP: POST/GET/DELETE /v1/faults (see ``kafkaish.faults``)."""

from __future__ import annotations

from aiohttp import web

from kafkaish.control.app import PLANE, int_param, json_body, ok
from kafkaish.control.plane import NotFound

routes = web.RouteTableDef()


@routes.post("/v1/faults")
async def add(request: web.Request) -> web.Response:
    rule = request.app[PLANE].broker.faults.add(await json_body(request))
    return ok(rule.to_json(), status=201)


@routes.get("/v1/faults")
async def list_rules(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].broker.faults.list())


@routes.get("/v1/faults/{id}")
async def get(request: web.Request) -> web.Response:
    rule = request.app[PLANE].broker.faults.get(int_param(request.match_info["id"], "id"))  # type: ignore[arg-type]
    if rule is None:
        raise NotFound(f"fault rule {request.match_info['id']} not found")
    return ok(rule.to_json())


@routes.delete("/v1/faults/{id}")
async def remove(request: web.Request) -> web.Response:
    rule_id = int_param(request.match_info["id"], "id")
    if not request.app[PLANE].broker.faults.remove(rule_id):  # type: ignore[arg-type]
        raise NotFound(f"fault rule {rule_id} not found")
    return ok({"deleted": rule_id})


@routes.delete("/v1/faults")
async def clear(request: web.Request) -> web.Response:
    return ok({"deleted": request.app[PLANE].broker.faults.clear()})


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
