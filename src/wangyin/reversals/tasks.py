"""The worker's job: send the approved refund requests (退汇申请) to the clearing network
and record each answer once. An agreed request turns the item RETURNED on the network;
the clearing job's `follow` then books the return and texts the customer (clearing.tasks).
A network away leaves the request `requested` for the next tick."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from wangyin.db import Database
from wangyin.gateways import clearing as network
from wangyin.observability import metrics
from wangyin.reversals import service
from wangyin.uow import run_read, run_write

log = logging.getLogger(__name__)


def send_recalls(db: Database, gateway: network.ClearingGateway, *, now: datetime) -> int:
    """Each unanswered request once to the network; returns how many were answered."""
    answered = 0
    for item in run_read(db, service.unanswered):
        try:
            with metrics.clearing_call("recall"):
                answer = gateway.recall(item.msg_id, item.reason)
        except (network.ClearingTimeout, network.ClearingUnavailable) as exc:
            log.warning("refund request unanswered (%s): sent again next tick", type(exc).__name__)
            return answered
        run_write(
            db,
            partial(service.record_recall_answer, recall_id=item.recall_id, answer=answer, at=now),
        )
        answered += 1
    return answered
