"""GET routes: health, brokers, topics, records, groups, producers, transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from kafkaish.control.app import PLANE, int_param, ok

routes = web.RouteTableDef()


def _view(method: str, *params: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A route answering ``ControlPlane.<method>(*path params)``."""

    async def handler(request: web.Request) -> web.Response:
        return ok(getattr(request.app[PLANE], method)(*(request.match_info[p] for p in params)))

    return handler


for _path, _method, _params in (
    ("/v1/health", "health", ()),
    ("/v1/brokers", "brokers", ()),
    ("/v1/topics", "topics", ()),
    ("/v1/topics/{topic}", "topic", ("topic",)),
    ("/v1/groups", "groups", ()),
    ("/v1/groups/{group}", "group", ("group",)),
    ("/v1/producers", "producers", ()),
    ("/v1/transactions", "transactions", ()),
):
    routes.get(_path)(_view(_method, *_params))


@routes.get("/v1/topics/{topic}/partitions/{partition}/records")
async def records(request: web.Request) -> web.Response:
    q = request.query
    partition = int_param(request.match_info["partition"], "partition")
    return ok(request.app[PLANE].records(
        request.match_info["topic"], partition,  # type: ignore[arg-type]
        offset=int_param(q.get("offset"), "offset"), limit=int_param(q.get("limit"), "limit", 100),  # type: ignore[arg-type]
        encoding=q.get("encoding")))


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
