"""Which requests the per-IP limits guard, and which client an address stands for."""

from __future__ import annotations

import pytest

from wangyin.security.ratelimit import client_key, rule_for


@pytest.mark.parametrize(
    ("method", "path", "rule"),
    [
        ("POST", "/api/v1/auth/login", "login"),
        ("POST", "/login", "login"),
        ("POST", "/login/", "login"),
        ("POST", "/api/v1/auth/register", "register"),
        ("POST", "/register", "register"),
        ("POST", "/api/v1/auth/password/reset", "reset"),
        ("POST", "/password/forgot", "reset"),
        ("POST", "/api/v1/auth/password/reset/finish", None),
        ("POST", "/api/v1/auth/login/code", "code"),
        ("POST", "/security/otp", "code"),
        ("GET", "/login", None),
        ("GET", "/api/v1/auth/code", None),
        ("POST", "/api/v1/transfers", None),
        ("POST", "/api/v1/auth/logout", None),
        ("POST", "/codes", None),
    ],
)
def test_rule_for(method: str, path: str, rule: str | None) -> None:
    assert rule_for(method, path) == rule


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 on a dual-stack socket
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"),  # same subscriber /64
        ("testclient", "testclient"),
        ("", "unknown"),
    ],
)
def test_client_key(ip: str, key: str) -> None:
    assert client_key(ip) == key
