"""The web console at / on the admin port: pages, forms, the live tail (server-sent events), static files.

Pages are rendered by ``kafkaish.control.console`` from the control plane's views, so what the
console shows is what ``/v1`` and ``/metrics`` answer. Forms post here and redirect (303) to the
page they change; a refused form is shown again with the reason (400).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from importlib import resources
from typing import Any

from aiohttp import web

from kafkaish.control import console as pages
from kafkaish.control import inspect as views
from kafkaish.control.app import PLANE
from kafkaish.control.plane import NotFound
from kafkaish.coordinator.group_results import OffsetCommitInput
from kafkaish.wire.errors import ErrorCode, KafkaError

routes = web.RouteTableDef()
RATE: web.AppKey[dict[str, float]] = web.AppKey("console_rate", dict)
TAILS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("console_tails", set)
RECENT = 10
TAIL_BATCH = 100
STATIC = ("console.css", "console.js")


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def see_other(location: str) -> web.Response:
    raise web.HTTPSeeOther(location)


def _broker(request: web.Request) -> Any:
    return request.app[PLANE].broker


def _totals(broker: Any) -> tuple[int, int, int, int]:
    """(topics, partitions, messages, bytes) over every topic."""
    topics = partitions = messages = size = 0
    for name, meta in broker.storage.topics().items():
        topics += 1
        for p in range(meta.num_partitions):
            log_ = broker.storage.log(name, p)
            partitions += 1
            messages += log_.high_watermark - log_.log_start_offset
            size += log_.size_bytes()
    return topics, partitions, messages, size


def _overview(request: web.Request) -> dict[str, Any]:
    broker = _broker(request)
    plane = request.app[PLANE]
    topics, partitions, messages, size = _totals(broker)
    produced = sum(broker.storage.log(n, p).high_watermark for n, m in broker.storage.topics().items()
                   for p in range(m.num_partitions))
    now, sample = time.monotonic(), request.app[RATE]
    rate = None
    if "t" in sample and now - sample["t"] >= 0.5:
        rate = max(0.0, (produced - sample["n"]) / (now - sample["t"]))
    if "t" not in sample or now - sample["t"] >= 0.5:
        sample.update(t=now, n=produced, rate=rate if rate is not None else -1)
    elif sample.get("rate", -1) >= 0:
        rate = sample["rate"]
    broker_list = plane.brokers()
    return {"brokers": sum(1 for b in broker_list if b["up"]), "broker_list": broker_list, "topics": topics,
            "partitions": partitions, "groups": len(views.groups(broker)), "messages": messages, "bytes": size,
            "messages_per_s": rate}


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    return html(pages.overview(_overview(request)))


@routes.get("/console/overview.json")
async def overview_json(request: web.Request) -> web.Response:
    o = _overview(request)
    o["bytes_text"] = pages.human_bytes(o["bytes"])
    return web.json_response(o)


# ------------------------------------------------------------------------------------ topics
def _topic_rows(broker: Any) -> list[dict[str, Any]]:
    out = []
    for t in views.topics(broker):
        parts = views.topic(broker, t["name"])["partitions"]
        out.append({"name": t["name"], "partitions": t["partitions"],
                    "messages": sum(p["high_watermark"] - p["log_start_offset"] for p in parts),
                    "bytes": sum(p["size_bytes"] for p in parts)})
    return out


@routes.get("/topics")
async def topic_list(request: web.Request) -> web.Response:
    return html(pages.topics(_topic_rows(_broker(request))))


def _configs(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"config line {line.strip()!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


@routes.post("/topics")
async def create_topic(request: web.Request) -> web.Response:
    form = {k: str(v) for k, v in (await request.post()).items()}
    broker = _broker(request)
    try:
        partitions = int(form.get("partitions") or "-1")
        configs = _configs(form.get("configs", ""))
        name = form.get("name", "").strip()
        await broker.topics.create_topic(name, partitions, -1, configs)
    except (ValueError, KafkaError) as exc:
        reason = exc.message if isinstance(exc, KafkaError) and exc.message else str(exc)
        if isinstance(exc, KafkaError):
            reason = f"{exc.code.name}: {reason}"
        return html(pages.topics(_topic_rows(broker), reason, form), 400)
    return see_other(pages.url("topics", name))


def _recent(broker: Any, t: dict[str, Any]) -> list[dict[str, Any]]:
    recent = []
    for p in t["partitions"]:
        start = max(p["log_start_offset"], p["high_watermark"] - RECENT)
        for r in views.records(broker, t["name"], p["partition"], start, RECENT, True)["records"]:
            if not r["control"]:
                recent.append({**r, "partition": p["partition"]})
    recent.sort(key=lambda r: (r["timestamp"], r["partition"], r["offset"]))
    return recent[-RECENT:]


@routes.get("/topics/{name}")
async def topic_page(request: web.Request) -> web.Response:
    broker = _broker(request)
    t = views.topic(broker, request.match_info["name"])
    fmt = _format(request)
    return html(pages.topic(t, _recent(broker, t), fmt))


@routes.post("/topics/{name}/delete")
async def delete_topic(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await request.post()
    if form.get("confirm") != name:
        return html(pages.error_page(400, f"Not deleted: type the topic name {name!r} to confirm."), 400)
    try:
        await _broker(request).topics.delete_topic(name)
    except KafkaError as exc:
        return html(pages.error_page(400, f"{exc.code.name}: {exc.message or ''}"), 400)
    return see_other("/topics")


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "text")
    return fmt if fmt in pages.FORMATS else "text"


def _timestamp_ms(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-12-07T08:00:00Z) or milliseconds since the epoch")
    return int(dt.timestamp() * 1000)


@routes.get("/topics/{name}/messages")
async def messages(request: web.Request) -> web.Response:
    broker = _broker(request)
    name = request.match_info["name"]
    meta = views.topic(broker, name)
    q: dict[str, Any] = {"format": _format(request), "offset": request.query.get("offset", ""),
                         "timestamp": request.query.get("timestamp", "")}
    try:
        q["partition"] = int(request.query.get("partition", "0"))
        q["limit"] = min(max(int(request.query.get("limit", "50")), 1), 500)
        if not 0 <= q["partition"] < len(meta["partitions"]):
            raise ValueError(f"partition {q['partition']} does not exist")
        offset = int(q["offset"]) if q["offset"] else None
        if q["timestamp"] and offset is None:
            found = broker.storage.log(name, q["partition"]).offset_for_timestamp(_timestamp_ms(q["timestamp"]))
            offset = found.offset if found is not None else meta["partitions"][q["partition"]]["high_watermark"]
    except ValueError as exc:
        q.setdefault("partition", 0)
        q.setdefault("limit", 50)
        return html(pages.browser(name, len(meta["partitions"]), q, None, str(exc)), 400)
    result = views.records(broker, name, q["partition"], offset, q["limit"], True)
    result["records"] = [r for r in result["records"] if not r["control"]]
    return html(pages.browser(name, len(meta["partitions"]), q, result))


@routes.get("/topics/{name}/tail")
async def tail_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    views.topic(_broker(request), name)  # 404 for an unknown topic
    return html(pages.tail(name))


@routes.get("/topics/{name}/tail/events")
async def tail_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``message`` event (JSON) per record produced after the request."""
    task = asyncio.current_task()
    request.app[TAILS].add(task)  # type: ignore[arg-type]
    try:
        return await _tail(request)
    finally:
        request.app[TAILS].discard(task)  # type: ignore[arg-type]


async def _tail(request: web.Request) -> web.StreamResponse:
    broker = _broker(request)
    name = request.match_info["name"]
    parts = views.topic(broker, name)["partitions"]
    positions = {p["partition"]: p["high_watermark"] for p in parts}
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    await resp.write(b": tailing\n\nevent: ready\ndata: {}\n\n")
    while True:
        sent = False
        for p, pos in positions.items():
            try:
                batch = views.records(broker, name, p, pos, TAIL_BATCH)
            except NotFound:
                await resp.write(b"event: gone\ndata: {}\n\n")
                return resp
            for r in batch["records"]:
                positions[p] = r["offset"] + 1
                if r["control"]:
                    continue
                event = {"partition": p, "offset": r["offset"], "timestamp": r["timestamp"], "key": r["key"],
                         "key_encoding": r["key_encoding"], "value": r["value"], "value_encoding": r["value_encoding"]}
                await resp.write(f"data: {json.dumps(event)}\n\n".encode())
                sent = True
        if not sent:
            # wake on new data (the Fetch long polls' signal), at least every 15 s to send a keep-alive
            await broker.wait_for_data([(name, p) for p in positions], broker.now_ms() + 5_000)
            await resp.write(b": keep-alive\n\n")


# ------------------------------------------------------------------------------------ groups
@routes.get("/groups")
async def group_list(request: web.Request) -> web.Response:
    broker = _broker(request)
    items = []
    for g in views.groups(broker):
        d = views.group(broker, g["group_id"])
        items.append({**g, "members": len(d.get("members", ())), "lag": d["lag"]})
    return html(pages.groups(items))


@routes.get("/groups/{group}")
async def group_page(request: web.Request) -> web.Response:
    g = views.group(_broker(request), request.match_info["group"])
    return html(pages.group(g, message=request.query.get("done", "")))


def _reset_plan(broker: Any, g: dict[str, Any], topic: str, to: str, offset: str) -> list[tuple[int, int, int]]:
    committed = {o["partition"]: o["offset"] for o in g["offsets"] if o["topic"] == topic}
    if not committed:
        raise ValueError(f"the group has no committed offsets on {topic!r}")
    plan = []
    for p, old in sorted(committed.items()):
        log_ = broker.storage.log(topic, p)
        if to == "earliest":
            new = log_.log_start_offset
        elif to == "latest":
            new = log_.high_watermark
        elif to == "offset":
            if not offset.strip().isdigit():
                raise ValueError("give the offset to reset to (an integer >= 0)")
            new = min(max(int(offset), log_.log_start_offset), log_.high_watermark)  # clamped, as Kafka's tool
        else:
            raise ValueError("reset to earliest, latest or a given offset")
        plan.append((p, old, new))
    return plan


@routes.post("/groups/{group}/reset")
async def reset_offsets(request: web.Request) -> web.Response:
    """First post: show the plan for confirmation; second post (confirm=yes): commit it as an admin
    (OffsetCommit with generation -1, what kafka-consumer-groups --reset-offsets sends)."""
    broker = _broker(request)
    gid = request.match_info["group"]
    g = views.group(broker, gid)
    form = {k: str(v) for k, v in (await request.post()).items()}
    topic, to, offset = form.get("topic", ""), form.get("to", ""), form.get("offset", "")
    try:
        plan = _reset_plan(broker, g, topic, to, offset)
    except (ValueError, KafkaError) as exc:
        return html(pages.group(g, error=str(exc)), 400)
    if form.get("confirm") != "yes":
        return html(pages.confirm_reset(gid, topic, to, offset, plan))
    result = broker.groups.commit_offsets(gid, "", -1, None, [OffsetCommitInput(topic, p, new) for p, _, new in plan],
                                          broker.now_ms())
    errors = {code for code in result.partitions.values() if code != ErrorCode.NONE} | (
        {result.error} if result.error != ErrorCode.NONE else set())
    if errors:
        names = ", ".join(sorted(ErrorCode(c).name for c in errors))
        return html(pages.group(views.group(broker, gid), error=f"Not reset ({names}): the group must have no "
                                                                 "members; stop its consumers first."), 409)
    return see_other(pages.url("groups", gid, done=f"Offsets of {topic} reset to {to}."))


# ------------------------------------------------------------------------------------ static
@routes.get("/static/{file}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files("kafkaish.control").joinpath("static", name).read_bytes()
    ctype = "text/css" if name.endswith(".css") else "text/javascript"
    return web.Response(body=body, content_type=ctype, headers={"Cache-Control": "max-age=300"})


@web.middleware
async def html_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Console pages answer errors as HTML pages (the /v1 API keeps its JSON errors)."""
    if request.path.startswith(("/v1/", "/metrics", "/health/")):
        return await handler(request)
    try:
        return await handler(request)
    except NotFound as exc:
        return html(pages.error_page(404, str(exc.args[0]) if exc.args else "not found"), 404)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return html(pages.error_page(exc.status, exc.reason), exc.status)


async def _end_tails(app: web.Application) -> None:
    """Open live tails end with the server instead of holding its shutdown."""
    for task in list(app[TAILS]):
        task.cancel()


def setup(app: web.Application) -> None:
    app[RATE] = {}
    app[TAILS] = set()
    app.on_shutdown.append(_end_tails)
    app.middlewares.append(html_errors)
    app.router.add_routes(routes)
