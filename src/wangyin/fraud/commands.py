"""The rule set's changes as a back-office command (maker-checker through the back
office's one pipeline, `backoffice.service.propose` / `approve`): kind `fraud_rules`, about
no customer. A risk officer proposes new thresholds and switches; a supervisor (never the
maker) approves, and the approval makes them a new active version (every version kept).

Imported by the fraud API so the kind is registered whenever the back office runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wangyin.backoffice import actions
from wangyin.backoffice.actions import Context, Handler
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.fraud import service
from wangyin.fraud.rules import DEFAULTS, SEVERITY
from wangyin.identity.models import Customer

FRAUD_RULES = "fraud_rules"
MAX_VALUE = 10**13  # larger than any amount in minor units the bank allows


def clean_params(params: Any) -> dict[str, dict[str, Any]]:
    """Only known rules and keys, with values of the default's type: a switch is a bool,
    a threshold a non-negative integer, an action one of the decisions."""
    if not isinstance(params, dict):
        raise DomainError("rules_invalid", detail="not an object")
    clean: dict[str, dict[str, Any]] = {}
    for name, values in params.items():
        if name not in DEFAULTS or not isinstance(values, dict):
            raise DomainError("rules_invalid", detail=str(name)[:40])
        rule: dict[str, Any] = {}
        for key, value in values.items():
            default = DEFAULTS[name].get(key)
            if key == "action":
                if value not in SEVERITY:
                    raise DomainError("rules_invalid", detail=f"{name}.{key}"[:60])
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise DomainError("rules_invalid", detail=f"{name}.{key}"[:60])
            elif isinstance(default, int):
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not (0 <= value <= MAX_VALUE)
                ):
                    raise DomainError("rules_invalid", detail=f"{name}.{key}"[:60])
            else:
                raise DomainError("rules_invalid", detail=f"{name}.{key}"[:60])
            rule[key] = value
        clean[name] = rule
    return clean


def _validate(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    if customer is not None:
        raise DomainError("validation_error")
    return {"params": clean_params(payload.get("params"))}


def _execute(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    service.activate(
        session, changes=clean_params(payload["params"]), approved_by=context.actor, at=context.at
    )


actions.register(FRAUD_RULES, Handler(_validate, _execute))
