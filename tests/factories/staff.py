"""Members of the back office's staff for tests that call the services directly (no
sign-in): the row and the `CurrentStaff` a session would resolve to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wangyin.backoffice.models import StaffUser
from wangyin.backoffice.service import CurrentStaff
from wangyin.ids import new_public_id


def make_staff(s: Session, username: str, role: str, *, at: datetime) -> CurrentStaff:
    member = StaffUser(
        public_id=new_public_id(), username=username, name=username, role=role,
        status="active", password_hash="-", totp_last_step=0, failed_logins=0, created_at=at,
    )  # fmt: skip
    s.add(member)
    s.flush()
    return CurrentStaff(
        staff_id=member.id, public_id=member.public_id, username=username, name=username,
        role=role, session_id=0, csrf_token="", touch_due=False,
    )  # fmt: skip
