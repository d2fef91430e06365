"""day totals as counters on the user row (in CNY), instead of summing the day's transfers

Revision ID: 20261204_0030
Revises: 20261127_0022
Create Date: 2026-12-04 20:00:00

The confirm step locks the user row anyway (limits, freeze, PIN tries); keeping the day's
totals there makes the daily-limit check one read of a locked row, whatever the history.
The counters are in CNY minor units (limits are stated in CNY, issue 11 #5). Upgrading on a
live system: today's completed transfers are counted into the counters here, CNY only at
rate 1 and other currencies at the configured default rates.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0030"
down_revision: str | None = "20261127_0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RATES = {"CNY": "1", "USD": "7.30", "EUR": "7.90", "HKD": "0.94", "GBP": "9.20", "JPY": "0.050"}
_EXPONENTS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "GBP": 2, "JPY": 0}


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day_date", sa.String(10), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("day_total_cny_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "day_password_free_cny_minor", sa.BigInteger(), nullable=False, server_default="0"
            )
        )
    _count_today()


def _count_today() -> None:
    bank_tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(UTC).astimezone(bank_tz).date()
    start = datetime(today.year, today.month, today.day, tzinfo=bank_tz).astimezone(UTC)
    end = start + timedelta(days=1)
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT user_id, currency, confirmed_with, SUM(amount_minor) FROM transfer_requests "
            "WHERE status = 'COMPLETED' AND confirmed_at >= :start AND confirmed_at < :end "
            "GROUP BY user_id, currency, confirmed_with"
        ),
        {"start": start, "end": end},
    ).all()
    totals: dict[int, list[int]] = {}
    for user_id, currency, confirmed_with, amount in rows:
        rate = Decimal(_RATES.get(currency, "1"))
        places = Decimal(10) ** (2 - _EXPONENTS.get(currency, 2))
        cny = int((Decimal(int(amount)) * rate * places).to_integral_value(ROUND_CEILING))
        pair = totals.setdefault(int(user_id), [0, 0])
        pair[0] += cny
        if confirmed_with == "password_free":
            pair[1] += cny
    for user_id, (total, password_free) in totals.items():
        conn.execute(
            sa.text(
                "UPDATE users SET day_date = :d, day_total_cny_minor = :t, "
                "day_password_free_cny_minor = :p WHERE id = :u"
            ),
            {"d": today.isoformat(), "t": total, "p": password_free, "u": user_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("day_password_free_cny_minor")
        batch_op.drop_column("day_total_cny_minor")
        batch_op.drop_column("day_date")
