"""One Settings object, read from WANGYIN_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-key-change-me"  # noqa: S105 - the marker prod refuses
DEFAULT_DB_PATH = Path("var") / "wangyin.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGYIN_", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    secret_key: str = DEV_SECRET
    host: str = "::"
    port: int = 8000
    # Cookies are Secure in production; dev serves plain HTTP on localhost.
    cookie_secure: bool | None = None
    # Pool size per process for PostgreSQL.
    db_pool_size: int = 10

    # Transfers
    transfer_confirm_seconds: int = 300
    single_transfer_limit_minor: int = Field(default=5_000_000_00)  # 5,000,000.00 per transfer
    daily_transfer_limit_minor: int = Field(default=10_000_000_00)  # 10,000,000.00 per day

    # Sessions
    session_idle_minutes: int = 30
    session_absolute_hours: int = 8

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_prod(self) -> Settings:
        if self.env == "prod":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "WANGYIN_SECRET_KEY must be set to a random value of at least 32 "
                    "characters in production"
                )
            if self.database_url.startswith("sqlite"):
                # SQLite is the embedded default for demo and development only.
                raise ValueError("production needs WANGYIN_DATABASE_URL pointing at PostgreSQL")
            if self.cookie_secure is False:
                raise ValueError("cookies must be Secure in production")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.env == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
