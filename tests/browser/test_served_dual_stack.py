"""4.1.2.1-h: the server listens on IPv6 and IPv4 at once."""

from __future__ import annotations

import httpx
import pytest


def test_reached_over_ipv6_and_ipv4(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for base in (f"http://[::1]:{port}", f"http://127.0.0.1:{port}"):
        try:
            response = httpx.get(f"{base}/healthz", timeout=5)
        except httpx.ConnectError as exc:  # pragma: no cover - a machine without ::1
            pytest.fail(f"{base} unreachable: {exc}")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
