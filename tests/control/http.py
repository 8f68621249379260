"""A tiny JSON-over-HTTP client for the admin port (stdlib only, as any language's would be)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url: str) -> Any:
    status, body = call("GET", url)
    assert status == 200, (status, body)
    return body


def post(url: str, body: Any = None) -> Any:
    status, out = call("POST", url, body if body is not None else {})
    assert status in (200, 201), (status, out)
    return out
