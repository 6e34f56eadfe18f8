"""A fast local push service for benchmarks: answers 201 after a fixed latency, counts messages.

Run by bench/dispatch.py in its own process (so it does not share the worker's CPU time):
``python bench/push_sink.py PORT LATENCY_MS``. ``GET /count`` returns how many pushes arrived.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def make_app(latency_s: float) -> web.Application:
    """The sink: POST /push/<id> waits ``latency_s`` then answers 201."""
    received = {"count": 0, "bytes": 0}

    async def push(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(latency_s)
        received["count"] += 1
        received["bytes"] += len(body)
        return web.Response(status=201)

    async def count(_: web.Request) -> web.Response:
        return web.json_response(received)

    async def reset(_: web.Request) -> web.Response:
        received.update(count=0, bytes=0)
        return web.json_response(received)

    app = web.Application()
    app.add_routes(
        [web.post("/push/{name}", push), web.get("/count", count), web.post("/reset", reset)]
    )
    return app


if __name__ == "__main__":
    port, latency_ms = int(sys.argv[1]), float(sys.argv[2])
    web.run_app(
        make_app(latency_ms / 1000), host="127.0.0.1", port=port, print=None, access_log=None
    )
