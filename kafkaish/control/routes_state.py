"""GET routes: health, brokers, topics, records, groups, producers, transactions."""

from __future__ import annotations

from aiohttp import web

from kafkaish.control.app import PLANE, int_param, ok

routes = web.RouteTableDef()


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].health())


@routes.get("/v1/brokers")
async def brokers(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].brokers())


@routes.get("/v1/topics")
async def topics(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].topics())


@routes.get("/v1/topics/{topic}")
async def topic(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].topic(request.match_info["topic"]))


@routes.get("/v1/topics/{topic}/partitions/{partition}/records")
async def records(request: web.Request) -> web.Response:
    q = request.query
    partition = int_param(request.match_info["partition"], "partition")
    return ok(request.app[PLANE].records(
        request.match_info["topic"], partition,  # type: ignore[arg-type]
        offset=int_param(q.get("offset"), "offset"), limit=int_param(q.get("limit"), "limit", 100),  # type: ignore[arg-type]
        encoding=q.get("encoding")))


@routes.get("/v1/groups")
async def groups(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].groups())


@routes.get("/v1/groups/{group}")
async def group(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].group(request.match_info["group"]))


@routes.get("/v1/producers")
async def producers(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].producers())


@routes.get("/v1/transactions")
async def transactions(request: web.Request) -> web.Response:
    return ok(request.app[PLANE].transactions())


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
