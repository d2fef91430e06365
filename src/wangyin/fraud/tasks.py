"""The worker's anti-fraud job: train each customer's anomaly model (issue 7 §4).

Once a day per customer, and only when they made new transfers since their last model:
an IsolationForest over their own completed transfers (amount, Beijing hour, first
payment to that account), exported as plain arrays (`fraud.model`) and stored as a new
version (`fraud_models`). A customer with fewer than `model.MIN_HISTORY` transfers gets
no model, and the engine skips the rule for them. One transaction per customer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.db import Database
from wangyin.fraud import model
from wangyin.fraud.models import FraudModel
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.payments.service import to_cny_minor
from wangyin.uow import run_read, run_write

log = logging.getLogger(__name__)

HISTORY = 500  # the newest transfers a model learns from
RETRAIN_AFTER = timedelta(days=1)
BATCH = 200  # customers per run of the job


def due_customers(session: Session, *, at: datetime, limit: int = BATCH) -> list[int]:
    """Customers with enough history whose model is missing, or a day old and behind."""
    counts = (
        select(TransferRequest.customer_id, func.count(TransferRequest.id).label("n"))
        .where(TransferRequest.status == COMPLETED)
        .group_by(TransferRequest.customer_id)
        .having(func.count(TransferRequest.id) >= model.MIN_HISTORY)
        .subquery()
    )
    latest = (
        select(
            FraudModel.customer_id,
            func.max(FraudModel.trained_at).label("trained_at"),
            func.max(FraudModel.samples).label("samples"),
        )
        .group_by(FraudModel.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(counts.c.customer_id, counts.c.n, latest.c.trained_at, latest.c.samples)
        .outerjoin(latest, latest.c.customer_id == counts.c.customer_id)
        .order_by(counts.c.customer_id)
    )
    due = []
    for row in rows:
        trained = row.trained_at
        if trained is None or (
            min(row.n, HISTORY) != row.samples
            and trained.replace(tzinfo=at.tzinfo) + RETRAIN_AFTER <= at
        ):
            due.append(row.customer_id)
        if len(due) >= limit:
            break
    return due


def samples_of(session: Session, *, customer_id: int, settings: Settings) -> list[list[float]]:
    """The customer's newest completed transfers as feature rows, oldest first; a payee is
    new the first time they appear."""
    rows = list(
        session.execute(
            select(
                TransferRequest.amount_minor,
                TransferRequest.currency,
                TransferRequest.confirmed_at,
                TransferRequest.to_account_id,
            )
            .where(
                TransferRequest.customer_id == customer_id,
                TransferRequest.status == COMPLETED,
            )
            .order_by(TransferRequest.confirmed_at.desc(), TransferRequest.id.desc())
            .limit(HISTORY)
        )
    )
    rows.reverse()
    seen: set[int] = set()
    samples = []
    for amount, currency, confirmed_at, payee in rows:
        if confirmed_at is None:
            continue
        samples.append(
            model.features_of(
                amount_cny=to_cny_minor(amount, currency, settings),
                at=confirmed_at,
                new_payee=payee not in seen,
            )
        )
        seen.add(payee)
    return samples


def train_one(session: Session, *, customer_id: int, at: datetime, settings: Settings) -> bool:
    samples = samples_of(session, customer_id=customer_id, settings=settings)
    trees = model.train(samples, seed=customer_id)
    if trees is None:
        return False
    latest = session.scalar(
        select(func.max(FraudModel.version)).where(FraudModel.customer_id == customer_id)
    )
    session.add(
        FraudModel(
            customer_id=customer_id,
            version=int(latest or 0) + 1,
            trees=trees,
            samples=len(samples),
            trained_at=at,
        )
    )
    model.forget(customer_id)
    return True


def train_models(db: Database, settings: Settings, *, at: datetime) -> int:
    """The job: models for the customers that are due; returns how many were trained."""
    trained = 0
    for customer_id in run_read(db, lambda s: due_customers(s, at=at)):

        def train(s: Session, customer: int = customer_id) -> bool:
            return train_one(s, customer_id=customer, at=at, settings=settings)

        if run_write(db, train):
            trained += 1
    if trained:
        log.info("anomaly models trained", extra={"count": trained})
    return trained
