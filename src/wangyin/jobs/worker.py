"""The worker loop: outbox delivery and housekeeping; scheduled jobs join it as they arrive."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from wangyin.backup.tasks import DailyBackup
from wangyin.batches.tasks import run_batches
from wangyin.clearing.tasks import ClearingJob
from wangyin.clock import Clock, SystemClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.fraud.tasks import train_models
from wangyin.gateways.messages import DevMessageGateway, HttpMessageGateway, MessageGateway
from wangyin.notify.tasks import deliver_pending
from wangyin.observability import metrics
from wangyin.observability.audit_copy import CopyStore, ship
from wangyin.observability.tasks import enforce_retention
from wangyin.reversals.tasks import send_recalls
from wangyin.schedules.tasks import run_due
from wangyin.security import channel
from wangyin.uow import run_write

log = logging.getLogger(__name__)

# Every job of the loop, by the name its metrics carry (wangyin_job_runs_total{job=...}).
JOBS = (
    "daily_backup",
    "outbox_delivery",
    "channel_purge",
    "audit_shipping",
    "log_retention",
    "scheduled_transfers",  # standing instructions' due runs (schedules.tasks)
    "batch_transfers",  # confirmed batches' lines (batches.tasks)
    "clearing",  # inter-bank sends, network answers, reconciliation (clearing.tasks)
    "interbank_recalls",  # approved refund requests to receiving banks (reversals.tasks)
    "fraud_models",  # each customer's anomaly model, retrained daily (fraud.tasks)
)
metrics.declare_jobs(JOBS)


def message_gateway(settings: Settings) -> MessageGateway:
    if settings.sms_gateway_url:
        return HttpMessageGateway(
            settings.sms_gateway_url, settings.sms_gateway_user, settings.sms_gateway_password
        )
    if settings.env != "dev":
        raise RuntimeError("production needs WANGYIN_SMS_GATEWAY_URL for SMS and voice")
    return DevMessageGateway()


def _purge(session: Session, *, at: datetime) -> int:
    return channel.purge(session, at=at)


def run(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    interval: float = 0.5,
) -> None:
    db = db or Database(settings.database_url)
    clock = clock or SystemClock()
    stop = stop or threading.Event()
    gateway = message_gateway(settings)
    log.info("worker started")
    next_purge = next_retention = next_training = clock.now()
    copy = CopyStore(settings.audit_copy_url) if settings.audit_copy_url else None
    exporter = None
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        # The worker is its own process: its jobs and deliveries are scraped here.
        exporter, _ = start_http_server(
            settings.worker_metrics_port, addr=settings.worker_metrics_host
        )
    daily_backup = DailyBackup(settings, db=db, clock=clock)  # off unless backup_daily_at
    clearing = ClearingJob(db, clock)  # the CNAPS simulator unless a gateway is configured
    while not stop.is_set():
        try:
            with metrics.job_run("daily_backup"):
                daily_backup.tick()
            with metrics.job_run("interbank_recalls"):
                send_recalls(db, clearing.gateway, now=clock.now())  # before follow asks
            with metrics.job_run("clearing"):
                clearing.tick()
            # Scheduled runs and batch lines before the outbox: their result texts go out
            # in the same step.
            with metrics.job_run("scheduled_transfers"):
                run_due(db, settings, at=clock.now())
            with metrics.job_run("batch_transfers"):
                run_batches(db, settings, at=clock.now())
            with metrics.job_run("outbox_delivery"):
                deliver_pending(db, gateway, now=clock.now())
            if clock.now() >= next_purge:
                # Expired channel keys and keyboard layouts have no use left: drop them.
                next_purge = clock.now() + timedelta(minutes=10)
                with metrics.job_run("channel_purge"):
                    run_write(db, partial(_purge, at=clock.now()))
            if copy is not None:
                with metrics.job_run("audit_shipping"):
                    ship(db, copy, at=clock.now())
            if clock.now() >= next_training:
                # Anomaly models: each customer at most daily (fraud.tasks decides who).
                next_training = clock.now() + timedelta(hours=1)
                with metrics.job_run("fraud_models"):
                    train_models(db, settings, at=clock.now())
            if clock.now() >= next_retention:
                next_retention = clock.now() + timedelta(hours=1)
                with metrics.job_run("log_retention"):
                    enforce_retention(db, settings, at=clock.now())
        except Exception:
            log.exception("worker step failed; retrying")
        stop.wait(interval)
    if copy is not None:
        copy.dispose()
    if exporter is not None:
        exporter.shutdown()
        exporter.server_close()
