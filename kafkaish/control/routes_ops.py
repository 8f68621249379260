"""State-changing routes: reset, clock, snapshot/restore, broker stop/start."""

from __future__ import annotations

import asyncio

from aiohttp import web

from kafkaish.control.app import PLANE, int_param, json_body, ok

routes = web.RouteTableDef()


@routes.post("/v1/reset")
async def reset(request: web.Request) -> web.Response:
    return ok(await request.app[PLANE].reset(await json_body(request)))


@routes.get("/v1/clock")
async def clock(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].clock())


@routes.post("/v1/clock")
async def set_clock(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok(request.app[PLANE].set_clock(body.get("mode"), body.get("now_ms")))


@routes.post("/v1/clock/advance")
async def advance(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok(request.app[PLANE].advance(body.get("ms")))


@routes.post("/v1/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok(request.app[PLANE].snapshot(body.get("path")))


@routes.post("/v1/restore")
async def restore(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok(await request.app[PLANE].restore(body.get("path")))


@routes.post("/v1/brokers/{id}/stop")
async def stop(request: web.Request) -> web.Response:
    body = await json_body(request)
    node = int_param(request.match_info["id"], "id")
    return ok(request.app[PLANE].stop_broker(node, body.get("ms")))  # type: ignore[arg-type]


@routes.post("/v1/brokers/{id}/start")
async def start(request: web.Request) -> web.Response:
    node = int_param(request.match_info["id"], "id")
    plane = request.app[PLANE]
    result = plane.start_broker(node)  # type: ignore[arg-type]
    member = plane.broker.shared.brokers[node]
    for _ in range(200):  # answer once the listener accepts again
        if all(not s.down for s in member.listeners):
            break
        await asyncio.sleep(0.01)
    return ok(result)


@routes.post("/v1/topics/{topic}/partitions/{partition}/leader")
async def move_leader(request: web.Request) -> web.Response:
    body = await json_body(request)
    partition = int_param(request.match_info["partition"], "partition")
    return ok(request.app[PLANE].move_leader(request.match_info["topic"], partition,  # type: ignore[arg-type]
                                             body.get("broker")))


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
