"""Demo tokens (5.2.3-d): signed under the app's secret key, ending on the clock."""

from __future__ import annotations

from datetime import timedelta

from conftest import T0
from wangyin.config import Settings
from wangyin.demo import service


def test_a_demo_ends_on_the_clock() -> None:
    settings = Settings()
    token, _ = service.new_token(settings=settings, at=T0)
    end = T0 + timedelta(minutes=service.DEMO_MINUTES)
    assert service.resolve(token=token, settings=settings, at=end - timedelta(seconds=1))
    assert service.resolve(token=token, settings=settings, at=end) is None
    other_key = Settings(secret_key="another-secret-key-of-enough-length-0123456789")
    assert service.resolve(token=token, settings=other_key, at=T0) is None
