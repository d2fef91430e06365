"""Production refuses insecure settings (issue 11 #10): rate limits off, plain sensitive
fields accepted, many code tries, a secret key that is a placeholder. Development keeps
accepting them (the tests and the demo use some)."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from wangyin.config import Settings

PG = "postgresql://wangyin@db.internal/wangyin"
# A key as `secrets.token_urlsafe(36)` makes one, fixed so that the test is repeatable.
GOOD_SECRET = "q7Vd-2kLx9ZpR4mWc8HtN1bYs6JfE3uGa0oTiK5v"


def prod(**overrides: object) -> Settings:
    values: dict[str, object] = {"env": "prod", "database_url": PG, "secret_key": GOOD_SECRET}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_production_with_secure_settings_starts() -> None:
    settings = prod()
    assert settings.ratelimit_enabled is True
    assert settings.channel_encryption == "required"
    assert settings.otp_max_attempts <= 5


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"ratelimit_enabled": False}, "WANGYIN_RATELIMIT_ENABLED"),
        ({"channel_encryption": "optional"}, "WANGYIN_CHANNEL_ENCRYPTION"),
        ({"otp_max_attempts": 1000}, "WANGYIN_OTP_MAX_ATTEMPTS"),
        ({"otp_max_attempts": 6}, "WANGYIN_OTP_MAX_ATTEMPTS"),
        ({"otp_max_attempts": 0}, "WANGYIN_OTP_MAX_ATTEMPTS"),
        ({"secret_key": "a" * 32}, "WANGYIN_SECRET_KEY"),  # the attack's secret
        ({"secret_key": "x" * 48}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": "ab" * 24}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": "changeme" * 5}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": "0123456789" * 4}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": "Secret-2026!" * 3}, "WANGYIN_SECRET_KEY"),  # a repeated phrase
        ({"secret_key": "1234567890qwertyuiop" * 2}, "WANGYIN_SECRET_KEY"),
        ({"secret_key": GOOD_SECRET[:31]}, "WANGYIN_SECRET_KEY"),  # still too short
    ],
)
def test_production_refuses_insecure_settings(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        prod(**overrides)


def test_production_names_every_insecure_setting_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        prod(ratelimit_enabled=False, channel_encryption="optional", otp_max_attempts=10)
    message = str(info.value)
    for name in ("RATELIMIT_ENABLED", "CHANNEL_ENCRYPTION", "OTP_MAX_ATTEMPTS"):
        assert name in message


def test_production_refusal_does_not_echo_the_secrets() -> None:
    with pytest.raises(ValidationError) as info:
        prod(secret_key="Z" * 40, sms_gateway_password="gateway-pass-0042")
    assert "ZZZZ" not in str(info.value)
    assert "gateway-pass-0042" not in str(info.value)


@pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(16)])
def test_production_accepts_keys_from_a_csprng(make: object) -> None:
    """The placeholder check must not refuse real keys: even a 32-digit hex key (128 bits,
    often only 13 to 15 distinct characters) passes, in 200 tries."""
    for _ in range(200):
        prod(secret_key=make())  # type: ignore[operator]


def test_development_keeps_its_conveniences() -> None:
    settings = Settings(
        env="dev",
        ratelimit_enabled=False,
        channel_encryption="optional",
        otp_max_attempts=1000,
        secret_key="a" * 32,
    )
    assert settings.env == "dev"
