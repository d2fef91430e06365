"""A minimal HTTP/1.1 keep-alive client for the benchmark's load generator.

httpx costs about 3.8 ms of CPU per transfer (two requests) on this machine, on the same two
cores as the server under test: the load generator then takes a third of the machine and
caps what the server can show. This client does only what the benchmark's requests need
(JSON bodies, Content-Length responses, keep-alive connections reused from a pool) at a
fraction of that cost. `bench/transfers.py --http-client httpx` measures with httpx instead.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any
from urllib.parse import urlsplit

import httpx


class LeanHTTPError(httpx.HTTPError):
    """A broken connection or an unreadable answer (an httpx.HTTPError, so the benchmark's
    error handling counts it like httpx's own)."""


class LeanResponse:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class LeanClient:
    """`await client.post(path, json=..., headers=...)` over a pool of keep-alive
    connections (at most `size` at once)."""

    def __init__(self, base_url: str, size: int, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = f"{self.host}:{self.port}".encode()
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()

    async def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> LeanResponse:
        return await self.request("POST", path, json, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> LeanResponse:
        return await self.request("GET", path, None, headers)

    async def request(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> LeanResponse:
        payload = b"" if body is None else jsonlib.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if body is not None:
            lines.append(b"Content-Type: application/json")
        lines.append(b"Content-Length: " + str(len(payload)).encode())
        message = b"\r\n".join(lines) + b"\r\n\r\n" + payload
        async with self.slots:
            connection = self.idle.pop() if self.idle else await self._connect()
            try:
                response, keep = await asyncio.wait_for(
                    self._exchange(connection, message), self.timeout
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                connection[1].close()
                raise LeanHTTPError(f"{method} {path}: {exc!r}") from exc
            if keep:
                self.idle.append(connection)
            else:
                connection[1].close()
            return response

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise LeanHTTPError(f"connect: {exc!r}") from exc

    @staticmethod
    async def _exchange(
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], message: bytes
    ) -> tuple[LeanResponse, bool]:
        reader, writer = connection
        writer.write(message)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = b""
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                content += chunk[:-2]
        else:
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        return LeanResponse(status, headers, content), keep
