"""The back office's JSON API under /api/admin/v1 (thin: parse, authorize, one action),
and the customer's end of a counter-approved PIN reset under /api/v1."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice import permissions, pin_reset
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.context import Staff
from wangyin.backoffice.models import Command
from wangyin.backoffice.schemas import (
    AuditOut,
    CommandOut,
    CustomerMatch,
    EnrolIn,
    MeOut,
    NewStaffOut,
    PinResetIn,
    ProfileOut,
    ProposeIn,
    ReasonIn,
    SignInIn,
    SignInOut,
    StaffIn,
    StaffOut,
)
from wangyin.backoffice.service import CurrentStaff, SignIn
from wangyin.runtime import AppState
from wangyin.security import ratelimit
from wangyin.security.channel import reveal_many
from wangyin.security.masking import mask_id_number, mask_mobile
from wangyin.uow import run_read, run_write
from wangyin.web.context import State, client_of

# The whole prefix here (not at include): the route path the permissions are keyed by.
router = APIRouter(prefix="/api/admin/v1", tags=["back office"])
customer_router = APIRouter(tags=["identity"])


def limit_sign_in(state: AppState, request: Request, rule: ratelimit.Rule = "login") -> None:
    """Per-IP limit on sign-in steps, counted in its own transaction (web.ratelimit)."""
    ip = client_of(request).ip
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: ratelimit.limit_ip(s, ip=ip, rule=rule, at=now, settings=state.settings),
    )


def _sign_in_out(result: SignIn) -> SignInOut:
    if result.token:
        return SignInOut(status="signed_in", token=result.token)
    return SignInOut(
        status="enrolment_required",
        enrolment_token=result.enrolment_token,
        totp_secret=result.totp_secret,
        otpauth_uri=result.otpauth_uri,
    )


@router.post("/auth/login", response_model=SignInOut)
def sign_in(body: SignInIn, request: Request, state: State) -> SignInOut:
    limit_sign_in(state, request)
    now = state.clock.now()
    result = run_write(
        state.db,
        lambda s: backoffice.sign_in(
            s, username=body.username, password=body.password, code=body.code,
            client=client_of(request, "admin"), at=now, settings=state.settings,
        ),
    )
    return _sign_in_out(result)


@router.post("/auth/enrol", response_model=SignInOut)
def enrol(body: EnrolIn, request: Request, state: State) -> SignInOut:
    limit_sign_in(state, request)
    now = state.clock.now()
    result = run_write(
        state.db,
        lambda s: backoffice.finish_enrolment(
            s, enrolment_token=body.enrolment_token, code=body.code,
            new_password=body.new_password, client=client_of(request, "admin"), at=now,
            settings=state.settings,
        ),
    )
    return _sign_in_out(result)


@router.post("/auth/logout", status_code=204)
def sign_out(staff: Staff, request: Request, state: State) -> Response:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: backoffice.sign_out(s, staff=staff, client=client_of(request, "admin"), at=now),
    )
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
def me(staff: Staff) -> MeOut:
    return MeOut(
        public_id=staff.public_id,
        username=staff.username,
        name=staff.name,
        role=staff.role,
        permissions=sorted(
            p for p, roles in permissions.PERMISSIONS.items() if staff.role in roles
        ),
    )


@router.get("/customers", response_model=list[CustomerMatch])
def find_customers(
    by: str, q: str, staff: Staff, request: Request, state: State
) -> list[CustomerMatch]:
    """Find a customer by `id_number`, `mobile`, `card` or `account` (shown masked)."""
    now = state.clock.now()
    found = run_write(
        state.db,
        lambda s: backoffice.find_customers(
            s, by=by, query=q, staff=staff, client=client_of(request, "admin"), at=now
        ),
    )
    return [
        CustomerMatch(
            customer_id=c.public_id,
            name=c.name,
            id_number=mask_id_number(c.id_number),
            mobile=mask_mobile(c.mobile),
        )
        for c in found
    ]


def command_out(
    command: Command, names: dict[int, str], customers: dict[int, str]
) -> CommandOut:
    return CommandOut(
        public_id=command.public_id,
        kind=command.kind,
        customer_id=customers.get(command.customer_id) if command.customer_id else None,
        payload=json.loads(command.payload),
        reason=command.reason,
        status=command.status,
        maker=names.get(command.maker_id, ""),
        checker=names.get(command.checker_id) if command.checker_id else None,
        checker_reason=command.checker_reason,
        created_at=command.created_at,
        decided_at=command.decided_at,
        executed_at=command.executed_at,
    )


def commands_out(s: Any, commands: list[Command]) -> list[CommandOut]:
    names = backoffice.staff_names(
        s, {c.maker_id for c in commands} | {c.checker_id for c in commands if c.checker_id}
    )
    customers = backoffice.customer_public_ids(
        s, {c.customer_id for c in commands if c.customer_id}
    )
    return [command_out(c, names, customers) for c in commands]


def _profile(
    state: AppState, request: Request, staff: CurrentStaff, customer_id: str, reason: str | None
) -> ProfileOut:
    now = state.clock.now()

    def action(s: Any) -> ProfileOut:
        found = backoffice.profile(
            s, customer_id=customer_id, staff=staff, client=client_of(request, "admin"),
            at=now, settings=state.settings, reveal_reason=reason,
        )
        return ProfileOut(
            customer_id=found.customer_public_id,
            name=found.name,
            id_number=found.id_number,
            mobile=found.mobile,
            revealed=found.revealed,
            online_banking=found.online_banking,
            accounts=found.accounts,
            devices=found.devices,
            logins=found.logins,
            operations=found.operations,
            commands=commands_out(s, found.commands),
        )

    return run_write(state.db, action)  # the look itself is audited


@router.get("/customers/{customer_id}", response_model=ProfileOut)
def customer(customer_id: str, staff: Staff, request: Request, state: State) -> ProfileOut:
    """Profile, accounts, devices, login history, operation log: masked."""
    return _profile(state, request, staff, customer_id, None)


@router.post("/customers/{customer_id}/reveal", response_model=ProfileOut)
def reveal(
    customer_id: str, body: ReasonIn, staff: Staff, request: Request, state: State
) -> ProfileOut:
    """The same, unmasked; the reveal and its reason go to the audit chain."""
    return _profile(state, request, staff, customer_id, body.reason)


@router.post("/customers/{customer_id}/commands/{kind}", response_model=CommandOut, status_code=201)
def propose(
    customer_id: str, kind: str, body: ProposeIn, staff: Staff, request: Request, state: State
) -> CommandOut:
    """Propose a command; kinds that need no checker run at once (status EXECUTED)."""
    now = state.clock.now()

    def action(s: Any) -> CommandOut:
        command = backoffice.propose(
            s, customer_id=customer_id, kind=kind, payload=body.payload, reason=body.reason,
            staff=staff, client=client_of(request, "admin"), at=now, settings=state.settings,
        )
        return commands_out(s, [command])[0]

    return run_write(state.db, action)


@router.get("/commands", response_model=list[CommandOut])
def commands(staff: Staff, state: State, status: str | None = None) -> list[CommandOut]:
    return run_read(
        state.db, lambda s: commands_out(s, backoffice.list_commands(s, status=status))
    )


@router.get("/commands/{command_id}", response_model=CommandOut)
def command(command_id: str, staff: Staff, state: State) -> CommandOut:
    return run_read(
        state.db,
        lambda s: commands_out(s, [backoffice.get_command(s, command_id=command_id)])[0],
    )


@router.post("/commands/{command_id}/approve", response_model=CommandOut)
def approve(
    command_id: str, body: ReasonIn, staff: Staff, request: Request, state: State
) -> CommandOut:
    now = state.clock.now()

    def action(s: Any) -> CommandOut:
        done = backoffice.approve(
            s, command_id=command_id, reason=body.reason, staff=staff,
            client=client_of(request, "admin"), at=now, settings=state.settings,
        )
        return commands_out(s, [done])[0]

    return run_write(state.db, action)


@router.post("/commands/{command_id}/reject", response_model=CommandOut)
def reject(
    command_id: str, body: ReasonIn, staff: Staff, request: Request, state: State
) -> CommandOut:
    now = state.clock.now()

    def action(s: Any) -> CommandOut:
        done = backoffice.reject(
            s, command_id=command_id, reason=body.reason, staff=staff,
            client=client_of(request, "admin"), at=now,
        )
        return commands_out(s, [done])[0]

    return run_write(state.db, action)


@router.get("/audit", response_model=list[AuditOut])
def audit_log(staff: Staff, state: State) -> list[AuditOut]:
    """The newest back-office events of the audit chain."""
    return run_read(
        state.db,
        lambda s: [
            AuditOut(at=r.at, event=r.event, outcome=r.outcome, actor=r.actor, details=r.details)
            for r in backoffice.staff_audit(s)
        ],
    )


@router.get("/staff", response_model=list[StaffOut])
def staff_list(staff: Staff, state: State) -> list[StaffOut]:
    return run_read(
        state.db,
        lambda s: [
            StaffOut(
                public_id=m.public_id, username=m.username, name=m.name, role=m.role,
                status=m.status, enrolled=m.totp_enrolled_at is not None,
            )
            for m in backoffice.list_staff(s)
        ],
    )


@router.post("/staff", response_model=NewStaffOut, status_code=201)
def staff_create(body: StaffIn, staff: Staff, request: Request, state: State) -> NewStaffOut:
    now = state.clock.now()
    made = run_write(
        state.db,
        lambda s: backoffice.create_staff(
            s, username=body.username, name=body.name, role=body.role, by=staff,
            client=client_of(request, "admin"), at=now,
        ),
    )
    return NewStaffOut(
        public_id=made.public_id, username=made.username, initial_password=made.initial_password
    )


@router.post("/staff/{staff_id}/disable", status_code=204)
def staff_disable(staff_id: str, staff: Staff, request: Request, state: State) -> Response:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: backoffice.disable_staff(
            s, staff_id=staff_id, by=staff, client=client_of(request, "admin"), at=now
        ),
    )
    return Response(status_code=204)


@router.post("/staff/{staff_id}/reset", response_model=NewStaffOut)
def staff_reset(staff_id: str, staff: Staff, request: Request, state: State) -> NewStaffOut:
    """A new one-time password; the authenticator is enrolled again at the next sign-in."""
    now = state.clock.now()
    made = run_write(
        state.db,
        lambda s: backoffice.reset_staff(
            s, staff_id=staff_id, by=staff, client=client_of(request, "admin"), at=now
        ),
    )
    return NewStaffOut(
        public_id=made.public_id, username=made.username, initial_password=made.initial_password
    )


@customer_router.post("/pin-reset", status_code=204)
async def finish_pin_reset(body: PinResetIn, request: Request, state: State) -> Response:
    """The customer sets a new transaction password with the code the counter's approved
    reset texted to the reserved mobile."""
    await run_in_threadpool(limit_sign_in, state, request, "reset")
    clear = await run_in_threadpool(
        reveal_many, state, {"code": body.code, "new_pin": body.new_pin}
    )
    now = state.clock.now()
    client = client_of(request)
    await run_in_threadpool(
        run_write,
        state.db,
        lambda s: pin_reset.finish(
            s, login=body.login, code=clear["code"] or "", new_pin=clear["new_pin"] or "",
            client=client, at=now,
        ),
    )
    return Response(status_code=204)
