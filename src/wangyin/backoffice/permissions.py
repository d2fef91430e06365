"""Who may do what in the back office: roles, permissions and the permission of every
route (docs/backoffice.md has the same table; tests/functional/test_backoffice_matrix.py
checks both and tries every route as every role).

A route that is not in ROUTES is refused to everyone (`permission_of` returns None): a
new route must be given its permission here before anyone can use it.
"""

from __future__ import annotations

from typing import Final

TELLER: Final = "teller"  # 柜员
SUPERVISOR: Final = "supervisor"  # 主管
RISK: Final = "risk_officer"  # 风控
SERVICE: Final = "service_agent"  # 客服
AUDITOR: Final = "auditor"  # 审计 (read only)
ADMIN: Final = "administrator"  # manages staff; no money, no customer data

ROLES: Final = (TELLER, SUPERVISOR, RISK, SERVICE, AUDITOR, ADMIN)

# Command kinds (backoffice.actions): proposed with propose.<kind>, and where a checker
# is needed, approved or rejected with approve.<kind> by another member of staff.
KINDS: Final = (
    "upgrade_professional",
    "unlock_login",
    "freeze",
    "unfreeze",
    "reset_pin",
    "set_limits",
    "close_online_banking",
)

_ALL = frozenset(ROLES)
_CUSTOMER_READERS = frozenset({TELLER, SUPERVISOR, RISK, SERVICE, AUDITOR})

# permission -> the roles that hold it.
PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "session": _ALL,  # one's own session: home page, sign out, who am I
    "customer.view": _CUSTOMER_READERS,  # find a customer, see them masked
    "customer.reveal": frozenset({TELLER, SUPERVISOR, RISK}),  # unmask, with a reason
    "command.view": _CUSTOMER_READERS,
    "command.decide": frozenset({SUPERVISOR, RISK}),  # holds some approve.<kind>
    "propose.upgrade_professional": frozenset({TELLER}),
    "propose.unlock_login": frozenset({TELLER, SERVICE, SUPERVISOR}),
    "propose.freeze": frozenset({TELLER, SERVICE, RISK, SUPERVISOR}),
    "propose.unfreeze": frozenset({TELLER, RISK}),
    "propose.reset_pin": frozenset({TELLER}),
    "propose.set_limits": frozenset({TELLER}),
    "propose.close_online_banking": frozenset({TELLER, SERVICE}),
    "approve.upgrade_professional": frozenset({SUPERVISOR}),
    "approve.unfreeze": frozenset({SUPERVISOR, RISK}),
    "approve.reset_pin": frozenset({SUPERVISOR}),
    "approve.set_limits": frozenset({SUPERVISOR}),
    "approve.close_online_banking": frozenset({SUPERVISOR}),
    "audit.view": frozenset({AUDITOR, SUPERVISOR}),
    "staff.view": frozenset({ADMIN, AUDITOR}),
    "staff.manage": frozenset({ADMIN}),
    # Risk control (issue 7 §3, §5: wangyin.risk).
    "case.view": frozenset({RISK, SUPERVISOR, AUDITOR}),
    "case.work": frozenset({RISK}),
    # Kinds about no customer or proposed from risk pages (risk.commands), not in KINDS.
    "propose.blacklist_add": frozenset({RISK}),
    "propose.blacklist_expire": frozenset({RISK}),
    "propose.aml_review": frozenset({RISK}),
    "approve.blacklist_add": frozenset({SUPERVISOR, RISK}),
    "approve.blacklist_expire": frozenset({SUPERVISOR, RISK}),
    "approve.aml_review": frozenset({SUPERVISOR}),
    # Anti-fraud (issue 7 §4: wangyin.fraud, docs/fraud.md): held transfers, rule sets.
    "fraud.view": frozenset({RISK, SUPERVISOR, AUDITOR}),
    "fraud.decide": frozenset({RISK}),  # release or refuse a held transfer
    "propose.fraud_rules": frozenset({RISK}),
    "approve.fraud_rules": frozenset({SUPERVISOR}),
    # Reversals and refund requests from a case (wangyin.reversals, docs/risk.md).
    "propose.reverse_transfer": frozenset({RISK}),
    "approve.reverse_transfer": frozenset({SUPERVISOR}),
    "propose.recall_interbank": frozenset({RISK}),
    "approve.recall_interbank": frozenset({SUPERVISOR}),
    # daily reconciliation with the clearing network (clearing.reconciliation)
    "reconciliation.view": frozenset({SUPERVISOR, AUDITOR}),
    "reconciliation.resolve": frozenset({SUPERVISOR}),
}

# Kinds that take effect when proposed (protective, or neither money nor identity at
# stake); every other kind waits for a checker.
DIRECT_KINDS: Final = frozenset({"unlock_login", "freeze"})

PUBLIC: Final = "public"  # sign-in steps, before any session

API = "/api/admin/v1"
# (method, route path) -> permission; "{kind}" is filled from the path.
ROUTES: Final[dict[tuple[str, str], str]] = {
    ("GET", "/admin/login"): PUBLIC,
    ("POST", "/admin/login"): PUBLIC,
    ("POST", "/admin/enrol"): PUBLIC,
    ("POST", "/admin/logout"): "session",
    ("GET", "/admin"): "session",
    ("GET", "/admin/customers"): "customer.view",
    ("GET", "/admin/customers/{customer_id}"): "customer.view",
    ("POST", "/admin/customers/{customer_id}/reveal"): "customer.reveal",
    ("POST", "/admin/customers/{customer_id}/commands/{kind}"): "propose.{kind}",
    ("GET", "/admin/commands"): "command.view",
    ("POST", "/admin/commands/{command_id}/approve"): "command.decide",
    ("POST", "/admin/commands/{command_id}/reject"): "command.decide",
    ("GET", "/admin/staff"): "staff.view",
    ("POST", "/admin/staff"): "staff.manage",
    ("POST", f"{API}/auth/login"): PUBLIC,
    ("POST", f"{API}/auth/enrol"): PUBLIC,
    ("POST", f"{API}/auth/logout"): "session",
    ("GET", f"{API}/me"): "session",
    ("GET", f"{API}/customers"): "customer.view",
    ("GET", f"{API}/customers/{{customer_id}}"): "customer.view",
    ("POST", f"{API}/customers/{{customer_id}}/reveal"): "customer.reveal",
    ("POST", f"{API}/customers/{{customer_id}}/commands/{{kind}}"): "propose.{kind}",
    ("GET", f"{API}/commands"): "command.view",
    ("GET", f"{API}/commands/{{command_id}}"): "command.view",
    ("POST", f"{API}/commands/{{command_id}}/approve"): "command.decide",
    ("POST", f"{API}/commands/{{command_id}}/reject"): "command.decide",
    ("GET", f"{API}/audit"): "audit.view",
    ("GET", f"{API}/staff"): "staff.view",
    ("POST", f"{API}/staff"): "staff.manage",
    ("POST", f"{API}/staff/{{staff_id}}/disable"): "staff.manage",
    ("POST", f"{API}/staff/{{staff_id}}/reset"): "staff.manage",
    # Risk control (wangyin.risk, docs/risk.md).
    ("GET", "/admin/risk/blacklist"): "case.view",
    ("POST", "/admin/risk/blacklist"): "propose.blacklist_add",
    ("POST", "/admin/risk/blacklist/{entry_id}/expire"): "propose.blacklist_expire",
    ("GET", "/admin/risk/reviews"): "case.view",
    ("GET", "/admin/risk/reviews/{assessment_id}"): "case.view",
    ("POST", "/admin/risk/reviews/{assessment_id}/propose"): "propose.aml_review",
    ("GET", "/admin/risk/cases"): "case.view",
    ("GET", "/admin/risk/cases/{case_id}"): "case.view",
    ("POST", "/admin/risk/cases/assign"): "case.work",
    ("POST", "/admin/risk/cases/note"): "case.work",
    ("POST", "/admin/risk/cases/close"): "case.work",
    ("POST", "/admin/risk/cases/contact"): "case.work",
    ("POST", "/admin/risk/cases/freeze"): "case.work",
    ("GET", f"{API}/risk/blacklist"): "case.view",
    ("POST", f"{API}/risk/blacklist"): "propose.blacklist_add",
    ("POST", f"{API}/risk/blacklist/{{entry_id}}/expire"): "propose.blacklist_expire",
    ("GET", f"{API}/risk/cases"): "case.view",
    ("GET", f"{API}/risk/cases/timeline"): "case.view",
    ("GET", f"{API}/risk/cases/{{case_id}}"): "case.view",
    ("POST", f"{API}/risk/cases/assign"): "case.work",
    ("POST", f"{API}/risk/cases/note"): "case.work",
    ("POST", f"{API}/risk/cases/close"): "case.work",
    ("POST", f"{API}/risk/cases/contact"): "case.work",
    ("POST", f"{API}/risk/cases/freeze"): "case.work",
    ("GET", f"{API}/risk/reviews"): "case.view",
    ("GET", f"{API}/risk/reviews/{{assessment_id}}"): "case.view",
    ("POST", f"{API}/risk/reviews/approve"): "propose.aml_review",
    ("POST", f"{API}/risk/reviews/reject"): "propose.aml_review",
    # Anti-fraud (wangyin.fraud, docs/fraud.md).
    ("GET", "/admin/fraud/holds"): "fraud.view",
    ("GET", "/admin/fraud/holds/{transfer_id}"): "fraud.view",
    ("POST", "/admin/fraud/holds/{transfer_id}/release"): "fraud.decide",
    ("POST", "/admin/fraud/holds/{transfer_id}/refuse"): "fraud.decide",
    ("GET", "/admin/fraud/rules"): "fraud.view",
    ("POST", "/admin/fraud/rules"): "propose.fraud_rules",
    ("GET", "/admin/fraud/stats"): "fraud.view",
    ("GET", f"{API}/fraud/holds"): "fraud.view",
    ("GET", f"{API}/fraud/holds/{{transfer_id}}"): "fraud.view",
    ("POST", f"{API}/fraud/holds/{{transfer_id}}/release"): "fraud.decide",
    ("POST", f"{API}/fraud/holds/{{transfer_id}}/refuse"): "fraud.decide",
    ("GET", f"{API}/fraud/rules"): "fraud.view",
    ("POST", f"{API}/fraud/rules"): "propose.fraud_rules",
    ("GET", f"{API}/fraud/stats"): "fraud.view",
    # Reversals and refund requests from a case (wangyin.reversals).
    ("POST", "/admin/risk/cases/reverse"): "propose.reverse_transfer",
    ("POST", "/admin/risk/cases/recall"): "propose.recall_interbank",
    ("GET", f"{API}/risk/cases/{{case_id}}/transfers"): "case.view",
    ("POST", f"{API}/risk/cases/reverse"): "propose.reverse_transfer",
    ("POST", f"{API}/risk/cases/recall"): "propose.recall_interbank",
    ("GET", "/admin/reconciliation"): "reconciliation.view",
    ("GET", "/admin/reconciliation/{run_id}"): "reconciliation.view",
    ("POST", "/admin/reconciliation/mismatches/{mismatch_id}/resolve"): "reconciliation.resolve",
    ("GET", f"{API}/reconciliation"): "reconciliation.view",
    ("GET", f"{API}/reconciliation/{{run_id}}"): "reconciliation.view",
    ("POST", f"{API}/reconciliation/mismatches/{{mismatch_id}}/resolve"): "reconciliation.resolve",
}


def permission_of(method: str, route_path: str, path_params: dict[str, str]) -> str | None:
    """The permission a request needs, or None: the route has no entry (refused)."""
    template = ROUTES.get((method, route_path))
    if template is None:
        return None
    if "{kind}" in template:
        kind = path_params.get("kind", "")
        return template.format(kind=kind) if kind in KINDS else None
    return template


def allowed(role: str, permission: str | None) -> bool:
    if permission is None:
        return False
    if permission == PUBLIC:
        return True
    return role in PERMISSIONS.get(permission, frozenset())


def approves(role: str, kind: str) -> bool:
    """May this role be the checker of a command of this kind?"""
    return allowed(role, f"approve.{kind}")
