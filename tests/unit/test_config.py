"""Production refuses to start with development defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wangyin.config import Settings

PG = "postgresql://wangyin@db.internal/wangyin"
SECRET = "q7Vb2-Lm9xTz4Rk8Wp1Ns6Yh3Jd0Fc5Gu_Ea7Ko2Mi9Xv4Bt"  # a production-shaped secret


def test_dev_defaults_are_fine_for_development() -> None:
    settings = Settings(env="dev")
    assert settings.is_sqlite
    assert settings.secure_cookies is False


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"database_url": PG}, "WANGYIN_SECRET_KEY"),
        ({"database_url": PG, "secret_key": "short"}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": SECRET}, "PostgreSQL"),
        ({"secret_key": SECRET, "database_url": PG, "cookie_secure": False}, "Secure"),
    ],
)
def test_production_refuses_dev_defaults(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings(env="prod", **overrides)


def test_production_with_real_settings_starts_with_secure_cookies() -> None:
    settings = Settings(env="prod", database_url=PG, secret_key=SECRET)
    assert settings.secure_cookies is True
