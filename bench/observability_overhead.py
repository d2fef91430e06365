#!/usr/bin/env python
"""CPU per request added by observability.metrics.Observe (request id, log context, route
template, counter + histogram + refusal counter, one access log line).

    .venv/bin/python bench/observability_overhead.py [json|text|off]
"""

import asyncio
import io
import logging
import logging.config
import sys
import time

from wangyin.observability import logs, metrics


class Route:  # what FastAPI leaves in the scope after routing
    path = "/api/v1/accounts/{account_id}"


async def app(scope, receive, send):
    scope["route"] = Route()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def receive():
    return {"type": "http.request", "body": b""}


async def send(message):
    pass


def scope():
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/accounts/0192",
        "headers": [(b"x-request-id", b"lb-0123456789abcdef")],
    }


async def run(target, n):
    t = time.process_time()
    for _ in range(n):
        await target(scope(), receive, send)
    return (time.process_time() - t) / n


def main():
    n = 50_000
    mode = sys.argv[1] if len(sys.argv) > 1 else "json"
    if mode != "off":
        cfg = logs.logging_config(fmt=mode)
        cfg["handlers"]["stderr"]["stream"] = io.StringIO()
        logging.config.dictConfig(cfg)
    else:
        logging.getLogger("wangyin.access").setLevel(logging.WARNING)
    wrapped = metrics.Observe(app)
    asyncio.run(run(wrapped, 2000))  # warm up
    asyncio.run(run(app, 2000))
    bare = min(asyncio.run(run(app, n)) for _ in range(3))
    observed = min(asyncio.run(run(wrapped, n)) for _ in range(3))
    added = (observed - bare) * 1e6
    print(
        f"access log {mode}: bare {bare * 1e6:.1f} µs, observed {observed * 1e6:.1f} µs, "
        f"added {added:.1f} µs CPU per request"
    )


if __name__ == "__main__":
    main()
