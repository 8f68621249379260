"""The web console's pages: server-rendered HTML over the control plane's read-only views.

Every page is a function returning a complete HTML document (``layout``); values are escaped
with ``html.escape`` where they enter the page. Record keys, values and headers are shown as
text, JSON or hex (``show_bytes``): bytes that are not UTF-8 are never shown as text, so the
browser is binary-safe. Forms (create/delete a topic, reset a group's offsets) post to
``routes_console``; everything works without JavaScript except the live tail and the overview's
live figures (``static/console.js``).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

FORMATS = ("text", "json", "hex")
NAV = (("/", "Overview"), ("/topics", "Topics"), ("/groups", "Groups"), ("/metrics", "Metrics"))


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def url(*parts: str, **query: Any) -> str:
    path = "/" + "/".join(quote(p, safe="") for p in parts)
    q = {k: v for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(q) if q else "")


def layout(title: str, body: str, active: str = "") -> str:
    current = ' aria-current="page"'
    links = "".join(f'<li><a href="{href}"{current if href == active else ""}>{e(label)}</a></li>'
                    for href, label in NAV)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · kafkaish</title><link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><span class="brand">kafkaish</span><nav aria-label="Main"><ul>{links}</ul></nav></header>
<main id="main"><h1>{e(title)}</h1>
{body}
</main></body></html>"""


def table(caption: str, headers: list[str], rows: list[list[str]], empty: str = "None yet.",
          numeric: set[int] | frozenset[int] = frozenset(), table_id: str = "") -> str:
    """A table; cells are HTML already (escape values with ``e``)."""
    if not rows:
        return f"<section><h2>{e(caption)}</h2><p>{e(empty)}</p></section>"
    num = ' class="num"'
    head = "".join(f'<th scope="col"{num if i in numeric else ""}>{e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{num if i in numeric else ""}>{c}</td>' for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    ident = f' id="{e(table_id)}"' if table_id else ""
    return (f'<section><h2>{e(caption)}</h2><div class="scroll"><table{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></section>")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def when(ms: int) -> str:
    if ms is None or ms < 0:
        return "—"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def show_bytes(raw: bytes | None, fmt: str) -> str:
    """HTML for a key/value/header in ``fmt`` (text, json or hex); never raw bytes as text."""
    if raw is None:
        return '<span class="null">null</span>'
    if fmt != "hex":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            if fmt == "json":
                try:
                    return f'<pre class="json">{e(json.dumps(json.loads(text), indent=2, ensure_ascii=False))}</pre>'
                except ValueError:
                    pass
            return f'<span class="text">{e(text)}</span>'
    hexed = raw.hex(" ")
    label = "" if fmt == "hex" else '<span class="badge" title="not UTF-8: shown as hex">binary</span> '
    return f'{label}<code class="hex">{e(hexed)}</code>'


def raw_of(value: str | None) -> bytes | None:
    """The bytes behind a view's base64 field."""
    return None if value is None else base64.b64decode(value)


def records_table(caption: str, records: list[dict[str, Any]], fmt: str, with_partition: bool = False,
                  table_id: str = "") -> str:
    headers = (["Partition"] if with_partition else []) + ["Offset", "Timestamp", "Key", "Value", "Headers"]
    rows = []
    for r in records:
        hdrs = "".join(f"<div><b>{e(h['key'])}</b>: {show_bytes(raw_of(h['value']), fmt)}</div>" for h in r["headers"])
        row = [str(r["offset"]), e(when(r["timestamp"])), show_bytes(raw_of(r["key"]), fmt),
               show_bytes(raw_of(r["value"]), fmt), hdrs or "—"]
        rows.append(([str(r["partition"])] if with_partition else []) + row)
    return table(caption, headers, rows, "No messages.", {0} if not with_partition else {0, 1}, table_id)


def figure(label: str, value: str, ident: str) -> str:
    return f'<div class="figure"><dt>{e(label)}</dt><dd id="{ident}">{e(value)}</dd></div>'


def overview(o: dict[str, Any]) -> str:
    rate = "—" if o["messages_per_s"] is None else f"{o['messages_per_s']:,.1f}"
    figures = "".join((
        figure("Brokers", str(o["brokers"]), "fig-brokers"), figure("Topics", str(o["topics"]), "fig-topics"),
        figure("Partitions", str(o["partitions"]), "fig-partitions"), figure("Groups", str(o["groups"]), "fig-groups"),
        figure("Messages", f"{o['messages']:,}", "fig-messages"), figure("Bytes", human_bytes(o["bytes"]), "fig-bytes"),
        figure("Messages/s", rate, "fig-rate")))
    brokers = table("Brokers", ["Node", "Host", "Port", "State"],
                    [[str(b["node_id"]), e(b["host"]), str(b["port"]), "up" if b["up"] else "down"] for b in o["broker_list"]])
    return layout("Cluster overview", f'<dl class="figures" data-live="/console/overview.json">{figures}</dl>{brokers}', "/")


def create_topic_form(error: str = "", values: dict[str, str] | None = None) -> str:
    v = values or {}
    err = f'<p class="error" role="alert" id="create-error">{e(error)}</p>' if error else ""
    return f"""<section><h2>Create a topic</h2>{err}
<form method="post" action="/topics" class="stack" aria-describedby="create-help">
<p id="create-help">Configs: one <code>key=value</code> per line, e.g. <code>retention.ms=3600000</code>.</p>
<label for="topic-name">Name</label><input id="topic-name" name="name" required maxlength="249" value="{e(v.get('name', ''))}">
<label for="topic-partitions">Partitions</label><input id="topic-partitions" name="partitions" type="number" min="1" value="{e(v.get('partitions', '1'))}">
<label for="topic-configs">Configs</label><textarea id="topic-configs" name="configs" rows="3">{e(v.get('configs', ''))}</textarea>
<button type="submit">Create topic</button></form></section>"""


def topics(items: list[dict[str, Any]], error: str = "", values: dict[str, str] | None = None) -> str:
    rows = [[f'<a href="{url("topics", t["name"])}">{e(t["name"])}</a>', str(t["partitions"]), f"{t['messages']:,}",
             e(human_bytes(t["bytes"]))] for t in items]
    body = table("Topics", ["Name", "Partitions", "Messages", "Size"], rows, "No topics.", {1, 2, 3}, "topics")
    return layout("Topics", create_topic_form(error, values) + body, "/topics")


def topic(t: dict[str, Any], recent: list[dict[str, Any]], fmt: str) -> str:
    name = t["name"]
    parts = [[str(p["partition"]), str(p["leader"]), str(p["log_start_offset"]), str(p["high_watermark"]),
              str(p["last_stable_offset"]), f"{p['high_watermark'] - p['log_start_offset']:,}",
              e(human_bytes(p["size_bytes"])),
              f'<a href="{url("topics", name, "messages", partition=p["partition"])}">Browse partition {p["partition"]}</a>']
             for p in t["partitions"]]
    links = (f'<p class="actions"><a href="{url("topics", name, "messages")}">Message browser</a> · '
             f'<a href="{url("topics", name, "tail")}">Live tail</a></p>')
    configs = table("Configs (overrides)", ["Name", "Value"], [[e(k), e(v)] for k, v in sorted(t["configs"].items())],
                    "No overrides: broker defaults apply.")
    delete = f"""<section><h2>Delete this topic</h2>
<form method="post" action="{url("topics", name, "delete")}" class="stack">
<label for="confirm-name">Type the topic name to confirm</label>
<input id="confirm-name" name="confirm" required autocomplete="off">
<button type="submit" class="danger">Delete topic</button></form></section>"""
    body = (f'<p>Topic id <code>{e(t["topic_id"])}</code></p>' + links
            + table("Partitions", ["Partition", "Leader", "Log start", "High watermark", "Last stable", "Messages",
                                   "Size", "Browse"], parts, numeric={0, 1, 2, 3, 4, 5, 6}, table_id="partitions")
            + configs + records_table("Recent messages", recent, fmt, with_partition=True, table_id="recent") + delete)
    return layout(f"Topic {name}", body, "/topics")


def browser(name: str, partitions: int, q: dict[str, Any], result: dict[str, Any] | None, error: str = "") -> str:
    opts = "".join(f'<option value="{p}"{" selected" if p == q["partition"] else ""}>{p}</option>' for p in range(partitions))
    fmts = "".join(f'<option value="{f}"{" selected" if f == q["format"] else ""}>{f}</option>' for f in FORMATS)
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    form = f"""<form method="get" class="row" aria-label="Seek">
<label for="b-partition">Partition</label><select id="b-partition" name="partition">{opts}</select>
<label for="b-offset">From offset</label><input id="b-offset" name="offset" type="number" min="0" value="{e(q.get('offset') or '')}">
<label for="b-timestamp">or from timestamp (ms or ISO 8601)</label><input id="b-timestamp" name="timestamp" value="{e(q.get('timestamp') or '')}">
<label for="b-limit">Limit</label><input id="b-limit" name="limit" type="number" min="1" max="500" value="{e(q['limit'])}">
<label for="b-format">Show as</label><select id="b-format" name="format">{fmts}</select>
<button type="submit">Show</button></form>"""
    body = f'<p><a href="{url("topics", name)}">← Topic {e(name)}</a></p>' + err + form
    if result is not None:
        info = (f'<p id="range">Partition {result["partition"]}: offsets {result["log_start_offset"]} to '
                f'{result["high_watermark"] - 1} (high watermark {result["high_watermark"]})</p>')
        body += info + records_table("Messages", result["records"], q["format"], table_id="messages")
        if result["records"]:
            nxt = url("topics", name, "messages", partition=q["partition"], offset=result["records"][-1]["offset"] + 1,
                      limit=q["limit"], format=q["format"])
            body += f'<p><a href="{nxt}" rel="next">Next messages</a></p>'
    return layout(f"Messages of {name}", body, "/topics")


def tail(name: str) -> str:
    events = url("topics", name, "tail", "events")
    body = f"""<p><a href="{url("topics", name)}">← Topic {e(name)}</a></p>
<p id="tail-status" role="status">Connecting…</p>
<section><h2>New messages</h2>
<ol id="tail" class="tail" data-events="{events}" aria-live="polite" aria-relevant="additions"></ol></section>"""
    return layout(f"Live tail of {name}", body, "/topics")


def groups(items: list[dict[str, Any]]) -> str:
    rows = [[f'<a href="{url("groups", g["group_id"])}">{e(g["group_id"])}</a>', e(g["state"]), e(g["type"]),
             e(g["protocol_type"]), str(g["members"]), str(g["lag"])] for g in items]
    return layout("Consumer groups", table("Groups", ["Group", "State", "Type", "Protocol type", "Members", "Lag"],
                                           rows, "No groups.", {4, 5}, "groups"), "/groups")


def group(g: dict[str, Any], message: str = "", error: str = "") -> str:
    gid = g["group_id"]
    members = []
    for m in g.get("members", ()):
        a = m.get("assignment")
        shown = (", ".join(f"{e(t)}: {', '.join(map(str, ps))}" for t, ps in sorted(a.items())) if isinstance(a, dict)
                 else e(a) if a else "—")
        members.append([e(m["member_id"]), e(m.get("client_id", "")), e(m.get("client_host", "")),
                        e(m.get("group_instance_id") or "—"), shown])
    offsets = [[e(o["topic"]), str(o["partition"]), str(o["offset"]),
                "—" if o["high_watermark"] is None else str(o["high_watermark"]),
                f'<span class="lag" data-topic="{e(o["topic"])}" data-partition="{o["partition"]}">'
                f'{"—" if o["lag"] is None else o["lag"]}</span>'] for o in g["offsets"]]
    note = f'<p class="ok" role="status">{e(message)}</p>' if message else ""
    note += f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    topic_names = sorted({o["topic"] for o in g["offsets"]})
    topic_opts = "".join(f'<option value="{e(t)}">{e(t)}</option>' for t in topic_names)
    reset = f"""<section><h2>Reset offsets</h2>
<p>The group must have no members (stop its consumers first), as with <code>kafka-consumer-groups --reset-offsets</code>.</p>
<form method="post" action="{url("groups", gid, "reset")}" class="stack">
<label for="r-topic">Topic</label><select id="r-topic" name="topic">{topic_opts}</select>
<label for="r-to">Reset to</label><select id="r-to" name="to"><option value="earliest">earliest</option>
<option value="latest">latest</option><option value="offset">a given offset</option></select>
<label for="r-offset">Offset (with "a given offset")</label><input id="r-offset" name="offset" type="number" min="0">
<button type="submit">Review the reset…</button></form></section>""" if topic_names else ""
    body = (note + f'<dl class="figures">{figure("State", g.get("state", "?"), "g-state")}'
            f'{figure("Protocol", "/".join(x for x in (g.get("protocol_type"), g.get("protocol")) if x) or "—", "g-protocol")}'
            f'{figure("Members", str(len(g.get("members", ()))), "g-members")}{figure("Total lag", str(g["lag"]), "g-lag")}</dl>'
            + table("Members", ["Member", "Client id", "Host", "Instance id", "Assignment"], members, "No members.")
            + table("Committed offsets and lag", ["Topic", "Partition", "Committed", "High watermark", "Lag"], offsets,
                    "No committed offsets.", {1, 2, 3, 4}, "offsets") + reset)
    return layout(f"Group {gid}", body, "/groups")


def confirm_reset(gid: str, topic_: str, to: str, offset: str, plan: list[tuple[int, int, int]]) -> str:
    rows = [[str(p), str(old), str(new)] for p, old, new in plan]
    hidden = "".join(f'<input type="hidden" name="{k}" value="{e(v)}">' for k, v in
                     (("topic", topic_), ("to", to), ("offset", offset), ("confirm", "yes")))
    body = (f"<p>Group <b>{e(gid)}</b>, topic <b>{e(topic_)}</b>: these committed offsets will be replaced.</p>"
            + table("Planned reset", ["Partition", "Committed now", "New offset"], rows, numeric={0, 1, 2}, table_id="plan")
            + f'<form method="post" action="{url("groups", gid, "reset")}" class="row">{hidden}'
            f'<button type="submit" class="danger">Confirm reset</button> '
            f'<a href="{url("groups", gid)}">Cancel</a></form>')
    return layout(f"Reset offsets of {gid}?", body, "/groups")


def error_page(status: int, message: str) -> str:
    return layout(f"Error {status}", f'<p class="error" role="alert">{e(message)}</p><p><a href="/">Overview</a></p>')
