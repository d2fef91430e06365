"""One Settings object, read from WANGYIN_* environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-key-change-me"  # noqa: S105 - the marker prod refuses
DEFAULT_DB_PATH = Path("var") / "wangyin.db"

# Production bounds (issue 11 #10).
MIN_SECRET_LENGTH = 32
# A placeholder check, not an entropy estimate: "a" * 32 has 1 distinct character, while
# a random 32-digit hex key (128 bits) has 9 or fewer in about 1 in 15,000 draws and 7 or
# fewer in none of a million (16 would refuse nine in ten of them). At 10 the test that
# feeds 200 random keys failed about once in 75 runs.
MIN_SECRET_DISTINCT = 8
_MAX_SECRET_PERIOD = 64
MAX_OTP_ATTEMPTS_PROD = 5


def _networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or CIDR networks (WANGYIN_METRICS_ALLOW)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()]


def looks_like_a_placeholder(secret: str) -> bool:
    """Too few distinct characters, or a short pattern repeated ("changeme" * 4)."""
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return True
    longest = min(_MAX_SECRET_PERIOD, len(secret) // 2)
    return any(secret[period:] == secret[:-period] for period in range(1, longest + 1))


class Settings(BaseSettings):
    # A refused setting is named, never echoed: the input holds the secret key and the
    # SMS gateway's password.
    model_config = SettingsConfigDict(
        env_prefix="WANGYIN_", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["dev", "prod"] = "dev"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    secret_key: str = DEV_SECRET
    host: str = "::"
    port: int = 8000
    # Cookies are Secure in production; dev serves plain HTTP on localhost.
    cookie_secure: bool | None = None
    # Pool size per process for PostgreSQL.
    db_pool_size: int = 10
    # The largest request body (bytes), by Content-Length and as it streams in: larger
    # ones get 413 before anything parses them (web/middleware.py). Every form and API
    # body of ours is a few KiB at most.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # The OpenAPI document at /openapi.json (issue 11 #15): a map of every route and field
    # for whoever asks. Unset means on in development and off in production; production
    # may publish it on purpose (WANGYIN_OPENAPI_ENABLED=true).
    openapi_enabled: bool | None = None

    # Transfers
    transfer_confirm_seconds: int = 300
    # The bank's maxima: the most a customer may raise their limits to.
    single_transfer_limit_minor: int = Field(default=5_000_000_00)  # 5,000,000.00 per transfer
    daily_transfer_limit_minor: int = Field(default=10_000_000_00)  # 10,000,000.00 per day
    # What a customer has until they choose otherwise: agreed in advance and modest, far
    # below the maxima (银发〔2016〕261号, issue 6 §6).
    default_single_transfer_limit_minor: int = Field(default=50_000_00)  # 50,000.00
    default_daily_transfer_limit_minor: int = Field(default=100_000_00)  # 100,000.00
    # Personal transfers to others' accounts above this per bank day need a digital
    # certificate or an electronic signature (own accounts at this bank excepted).
    no_certificate_daily_max_minor: int = Field(default=50_000_00)  # 5万
    # Above this per bank day (all transfers) a large-transfer reminder is acknowledged.
    large_transfer_reminder_minor: int = Field(default=300_000_00)  # 30万
    # Above this, a first payment to a payee shows an anti-fraud warning to acknowledge.
    new_payee_warning_minor: int = Field(default=10_000_00)  # 1万
    # Personal account classes II and III (银发〔2018〕16号), CNY: what they may send to or
    # receive from accounts other than their bound class-I account, per day and per year,
    # and class III's balance ceiling.
    class_ii_daily_minor: int = 10_000_00
    class_ii_yearly_minor: int = 200_000_00
    class_iii_daily_minor: int = 2_000_00
    class_iii_yearly_minor: int = 50_000_00
    class_iii_balance_max_minor: int = 2_000_00
    # Small password-free payments: the most a customer may set (5.1.2-g, PSD2 RTS 16).
    password_free_single_max_minor: int = 1_000_00
    password_free_daily_max_minor: int = 5_000_00
    # Limits are stated in CNY; a transfer in another currency counts against them at
    # these rates (CNY per one unit of the currency), stated to the customer beside the
    # limits. Rounded up, so a limit is never exceeded through rounding.
    limit_cny_rates: dict[str, str] = Field(
        default={
            "CNY": "1",
            "USD": "7.30",
            "EUR": "7.90",
            "HKD": "0.94",
            "GBP": "9.20",
            "JPY": "0.050",
        }
    )
    # The bank's own accounts (cash, clearing, fees, ...) are split into this many
    # sub-accounts per purpose and currency, so concurrent payments never queue on one row.
    bank_account_shards: int = 16

    # Sessions (ASVS 7.3: inactivity and absolute timeouts)
    session_idle_minutes: int = 5
    session_absolute_hours: int = 8

    # The back office (issue 7, docs/backoffice.md): staff sessions time out on their own
    # clock; admin_only (`wangyin serve --admin-only`) serves only /admin, its API and health.
    backoffice_session_idle_minutes: int = 15
    backoffice_session_absolute_hours: int = 10
    backoffice_login_max_failures: int = 5
    backoffice_login_lock_minutes: int = 30
    admin_only: bool = False

    # One-time codes (4.3.1.3): valid once for 60 s, 3 tries, a daily cap per customer.
    otp_valid_seconds: int = 60
    otp_max_attempts: int = 3
    otp_daily_cap: int = 10

    # Login hardening (4.3.2-f): lock after the 5th consecutive failure, timed unlock.
    login_max_failures: int = 5
    login_lock_minutes: int = 30
    # A new login password may not be any of the customer's last N (the current one
    # included; issue 11 #15). Their Argon2id hashes are kept, N - 1 of them.
    password_history_count: int = Field(default=5, ge=1, le=24)

    # Rate limits (4.1.2.x, ASVS 6.6.3): at most N requests per window, counted in the
    # database so every app node sees the same counts. Per client IP on the routes...
    ratelimit_enabled: bool = True
    ratelimit_login_per_ip: int = 20
    ratelimit_login_ip_window_seconds: int = 60
    ratelimit_register_per_ip: int = 10
    ratelimit_register_ip_window_seconds: int = 3600
    ratelimit_code_per_ip: int = 10
    ratelimit_code_ip_window_seconds: int = 60
    # ...and per customer, applied by the login and one-time-code services.
    ratelimit_login_per_account: int = 10
    ratelimit_login_account_window_seconds: int = 60
    ratelimit_code_per_account: int = 5
    ratelimit_code_account_window_seconds: int = 300

    # Application-layer encryption of sensitive fields (4.1.2.2-b): "required" refuses
    # plain values of passwords, codes, ID and card numbers; "optional" also takes them.
    channel_encryption: Literal["required", "optional"] = "required"
    channel_ttl_seconds: int = 8 * 3600  # a channel lives at most as long as a session
    keyboard_ttl_seconds: int = 600  # one soft-keyboard layout, single use
    ratelimit_channel_per_ip: int = 120
    ratelimit_channel_ip_window_seconds: int = 60

    # TLS when `wangyin serve` terminates it itself (--tls-cert/--tls-key).
    tls_cert: str = ""
    tls_key: str = ""
    # Reverse proxies whose X-Forwarded-For/-Proto we trust (comma-separated IPs; empty:
    # none, the socket peer is the client).
    forwarded_allow_ips: str = ""

    # Backups (issue 8 §2, docs/operations.md "Backups and restore"). SQLite: online-backup
    # copies in backup_dir. PostgreSQL: pgBackRest, its repository and cluster named in its
    # own config file (backup_pgbackrest_config; empty: /etc/pgbackrest/pgbackrest.conf).
    backup_dir: str = "var/backups"
    backup_retention: int = Field(default=7, ge=1)  # full backups kept (repo1-retention-full)
    # "HH:MM" bank time of the worker's daily full backup; empty: no worker backs up (a
    # cron entry or systemd timer runs `wangyin backup` instead).
    backup_daily_at: str = Field(default="", pattern=r"^(|([01]\d|2[0-3]):[0-5]\d)$")
    backup_stanza: str = "wangyin"
    backup_pgbackrest_config: str = ""
    # Run pgBackRest and the restore check's PostgreSQL as this OS user (when run as root).
    backup_os_user: str = ""
    # PostgreSQL server binaries for the restore check; empty: the newest installed.
    backup_pg_bin: str = ""

    # Logs and metrics (issue 8 §1, docs/operations.md "Monitoring, metrics and logs"):
    # one JSON object per log line (or plain text for a terminal).
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics answers scrapers whose address is in metrics_allow (comma-separated IPs or
    # CIDR networks) or who send `Authorization: Bearer <metrics_token>`; anyone else gets
    # a 404. Production refuses an allow-list open to every address without a token.
    metrics_enabled: bool = True
    metrics_allow: str = "127.0.0.0/8,::1"
    metrics_token: str = ""
    # `wangyin worker` serves its own metrics (jobs, outbox delivery) on this port; 0: off.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # The audit copy (issue 8 §5): a PostgreSQL database where this URL's role may only
    # INSERT and SELECT (python -m wangyin.observability.audit_copy setup); empty: none.
    audit_copy_url: str = ""
    # Retention (4.1.6-c), in days: login history (ended sessions), the operation log
    # (audit records in the application database; pruned only once in the copy, when a
    # copy is configured), and the audit copy (pruned by its owner, never by the app).
    login_log_retention_days: int = Field(default=365, ge=180)
    audit_retention_days: int = Field(default=1825, ge=180)
    audit_copy_retention_days: int = Field(default=3650, ge=180)

    # SMS/voice provider; dev delivers to the dev inbox when no URL is set.
    sms_gateway_url: str = ""
    sms_gateway_user: str = ""
    sms_gateway_password: str = ""

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_prod(self) -> Settings:
        """Production refuses to start with development conveniences; every complaint is
        named at once, so one restart fixes them all."""
        if self.openapi_enabled is None:
            self.openapi_enabled = self.env == "dev"
        metrics_networks = _networks(self.metrics_allow)  # a typo fails at start
        if self.audit_copy_retention_days < self.audit_retention_days:
            raise ValueError(
                "WANGYIN_AUDIT_COPY_RETENTION_DAYS must not be shorter than "
                "WANGYIN_AUDIT_RETENTION_DAYS: the copy is what proves the pruned records"
            )
        if self.env != "prod":
            return self
        complaints = []
        if (
            self.secret_key == DEV_SECRET
            or len(self.secret_key) < MIN_SECRET_LENGTH
            or looks_like_a_placeholder(self.secret_key)
        ):
            complaints.append(
                f"WANGYIN_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters in production (not a repeated pattern or "
                f"fewer than {MIN_SECRET_DISTINCT} distinct characters), e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if self.database_url.startswith("sqlite"):
            # SQLite is the embedded default for demo and development only.
            complaints.append("production needs WANGYIN_DATABASE_URL pointing at PostgreSQL")
        if self.cookie_secure is False:
            complaints.append("cookies must be Secure in production")
        if not self.ratelimit_enabled:
            complaints.append("WANGYIN_RATELIMIT_ENABLED must not be off in production")
        if self.channel_encryption != "required":
            complaints.append(
                "WANGYIN_CHANNEL_ENCRYPTION must be 'required' in production (plain "
                "passwords, codes, ID and card numbers are for development only)"
            )
        if not 1 <= self.otp_max_attempts <= MAX_OTP_ATTEMPTS_PROD:
            complaints.append(
                f"WANGYIN_OTP_MAX_ATTEMPTS must be between 1 and {MAX_OTP_ATTEMPTS_PROD} in "
                "production (4.3.1.3: three tries)"
            )
        open_to_all = any(net.prefixlen == 0 for net in metrics_networks)
        if self.metrics_enabled and open_to_all and not self.metrics_token:
            complaints.append(
                "WANGYIN_METRICS_ALLOW lets every address read /metrics: name the scrapers' "
                "addresses, or set WANGYIN_METRICS_TOKEN in production"
            )
        if self.metrics_token and (
            len(self.metrics_token) < MIN_SECRET_LENGTH
            or looks_like_a_placeholder(self.metrics_token)
        ):
            complaints.append(
                f"WANGYIN_METRICS_TOKEN must be a random value of at least {MIN_SECRET_LENGTH} "
                "characters in production"
            )
        if complaints:
            raise ValueError("; ".join(complaints))
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env == "prod" or bool(self.tls_cert)

    @property
    def hsts(self) -> bool:
        """Strict-Transport-Security whenever the browser reaches us over HTTPS."""
        return self.secure_cookies or bool(self.tls_cert)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
