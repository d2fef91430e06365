"""Worker jobs of observability: shipping the audit copy, enforcing log retention (4.1.6-c).

Retention without breaking the audit chain: a chain's oldest records are deleted from its
start only, up to the newest record older than WANGYIN_AUDIT_RETENTION_DAYS, never the
chain's last record, and, when an audit copy is configured, never a record the copy does
not hold yet. The last deleted record's (seq, hash) is kept as the chain's retention
marker (`audit_pruned`), keyed with the audit key: the first kept record names that hash as
its predecessor, so `verify_chain` checks the rest link by link from the marker, and a
marker written by anyone without the keyring fails verify. The copy keeps the deleted
records (its own retention is longer, WANGYIN_AUDIT_COPY_RETENTION_DAYS), so `verify` can
still compare them. Login history (ended or expired sessions) past
WANGYIN_LOGIN_LOG_RETENTION_DAYS is deleted outright: it is not chained.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.db import Database
from wangyin.identity.models import UserSession
from wangyin.observability.models import AuditPruned, AuditShipCursor
from wangyin.security import audit
from wangyin.security.keys import load_keyring
from wangyin.security.models import AuditRecord
from wangyin.uow import run_write


def prune_login_history(session: Session, *, before: datetime) -> int:
    """Sessions that ended (or expired) before `before`: the login history 5.1.2-h shows."""
    result = session.execute(
        delete(UserSession).where(
            or_(
                and_(UserSession.ended_at.is_not(None), UserSession.ended_at < before),
                UserSession.expires_at < before,
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def prune_audit(session: Session, *, before: datetime, shipped_only: bool, at: datetime) -> int:
    """Cut each chain's records older than `before` from its start (see the module's
    docstring); returns how many were deleted."""
    ring = load_keyring()
    heads = audit.chain_heads(session)
    shipped = {c.chain: c.seq for c in session.scalars(select(AuditShipCursor))}
    markers = {m.chain: m for m in session.scalars(select(AuditPruned).with_for_update())}
    deleted = 0
    for chain, (head_seq, _) in sorted(heads.items()):
        limit = head_seq - 1  # the chain's last record stays: it anchors the head
        if shipped_only:
            limit = min(limit, shipped.get(chain, 0))
        last = session.scalar(
            select(func.max(AuditRecord.seq)).where(
                AuditRecord.chain == chain, AuditRecord.at < before, AuditRecord.seq <= limit
            )
        )
        marker = markers.get(chain)
        if last is None or (marker is not None and last <= marker.seq):
            continue
        last_hash = session.scalar(
            select(AuditRecord.hash).where(AuditRecord.chain == chain, AuditRecord.seq == last)
        )
        if last_hash is None:
            continue
        result = session.execute(
            delete(AuditRecord).where(AuditRecord.chain == chain, AuditRecord.seq <= last)
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
        key = ring.audit.active
        mac = audit.pruned_marker_mac(ring, key, chain, int(last), last_hash)
        if marker is None:
            session.add(
                AuditPruned(
                    chain=chain, seq=last, hash=last_hash, pruned_at=at, mac_key=key, mac=mac
                )
            )
        else:
            marker.seq, marker.hash, marker.pruned_at = last, last_hash, at
            marker.mac_key, marker.mac = key, mac
    return deleted


def enforce_retention(db: Database, settings: Settings, *, at: datetime) -> dict[str, int]:
    """The retention job: one transaction, the login history and the audit chains."""

    def action(session: Session) -> dict[str, int]:
        sessions = prune_login_history(
            session, before=at - timedelta(days=settings.login_log_retention_days)
        )
        records = prune_audit(
            session,
            before=at - timedelta(days=settings.audit_retention_days),
            shipped_only=bool(settings.audit_copy_url),
            at=at,
        )
        return {"login sessions": sessions, "audit records": records}

    return run_write(db, action)
