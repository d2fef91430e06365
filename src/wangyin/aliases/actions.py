"""Use cases of mobile aliases and payment by mobile number: one transaction each."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wangyin.aliases import service as aliases
from wangyin.aliases.schemas import MobileTransferIn
from wangyin.aliases.service import AliasNetworkDown, AliasView, MobilePayee
from wangyin.clearing import service as clearing
from wangyin.clearing.settings import clearing_settings
from wangyin.errors import DomainError
from wangyin.gateways.clearing import ClearingGateway
from wangyin.gateways.clearing.simulator import CnapsSimulator
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments import service as payments
from wangyin.payments.actions import Answer, guarded
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def current_alias(*, state: AppState, user: CurrentUser) -> AliasView | None:
    return run_read(state.db, lambda s: aliases.current_alias(s, customer_id=user.customer_id))


def send_alias_code(
    *, state: AppState, user: CurrentUser, client: Client, account_id: str, channel: str
) -> None:
    now = state.clock.now()

    def action(s: Session) -> None:
        aliases.send_alias_code(
            s,
            user_id=user.user_id,
            customer_id=user.customer_id,
            account_id=account_id,
            channel=channel,
            at=now,
            settings=state.settings,
            client=client,
        )

    run_write(state.db, action)


def register_alias(
    *, state: AppState, user: CurrentUser, client: Client, account_id: str, code: str
) -> AliasView:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: aliases.register_alias(
            s,
            user_id=user.user_id,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            account_id=account_id,
            code=code,
            at=now,
            settings=state.settings,
            client=client,
        ),
    )


def remove_alias(*, state: AppState, user: CurrentUser, client: Client) -> None:
    now = state.clock.now()

    def action(s: Session) -> None:
        aliases.remove_alias(
            s, customer_id=user.customer_id, actor=user.user_public_id, at=now, client=client
        )

    run_write(state.db, action)


def gateway(state: AppState) -> ClearingGateway:
    """The IBPS network that knows other banks' aliases (the simulator here, as for the
    worker's sends)."""
    return CnapsSimulator(state.db, state.clock, clearing_settings())


def _network_down() -> DomainError:
    return DomainError("alias_network_unavailable", retry_after=aliases.NETWORK_RETRY_SECONDS)


def ask_network(
    state: AppState,
    *,
    customer_id: int,
    mobile: str,
    name_check: str | None = None,
    network: ClearingGateway | None = None,
) -> aliases.NetworkAnswer:
    """The IBPS network asked between two transactions, never inside one (a slow network
    holds no row and no connection). When it does not answer, the look-up counted for it
    is given back and the customer told to try again (503, nothing kept)."""
    try:
        return aliases.ask_network(network or gateway(state), mobile, name_check=name_check)
    except AliasNetworkDown:
        now = state.clock.now()
        run_write(
            state.db, lambda s: aliases.give_back_lookup(s, customer_id=customer_id, at=now)
        )
        raise _network_down() from None


def find_payee(
    state: AppState, *, customer_id: int, mobile: str, network: ClearingGateway | None = None
) -> MobilePayee:
    """Counted and looked for here in one transaction; at other banks after it."""
    now = state.clock.now()
    try:
        return run_write(
            state.db,
            lambda s: aliases.look_up(s, customer_id=customer_id, mobile=mobile, at=now),
        )
    except DomainError as error:
        if error.code != "alias_at_network":
            raise
    asked = ask_network(state, customer_id=customer_id, mobile=mobile, network=network)
    return aliases.shown_from_network(asked)


def look_up(*, state: AppState, user: CurrentUser, mobile: str) -> MobilePayee:
    return find_payee(state, customer_id=user.customer_id, mobile=mobile)


def prepare_by_mobile(
    *, state: AppState, caller: Caller, key: str | None, body: MobileTransferIn
) -> Answer:
    """Resolve the mobile number and prepare the transfer to its account under the
    Idempotency-Key, in one transaction for an alias here; a miss is counted and stored
    like any refusal. An alias at another bank is paid by an inter-bank IBPS transfer (real
    time) naming the network's token, confirmed like any inter-bank transfer: prepared in a
    second transaction, with the network asked between the two."""
    now = state.clock.now()
    asked: aliases.NetworkAnswer | None = None  # the network's answer, once asked

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        require_transfers_allowed(user)
        payee = aliases.payee_for_transfer(
            s,
            customer_id=user.customer_id,
            mobile=body.to_mobile,
            name_check=body.name_check,
            at=now,
            asked=asked,
        )
        if isinstance(payee, aliases.NetworkPayee):
            return 201, _prepare_interbank(s, user, payee)
        number, name = payee
        transfer = payments.prepare(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            from_account_id=body.from_account_id,
            to_account_number=number,
            payee_name=name,
            amount=body.amount,
            currency=body.currency,
            remark=body.remark,
            at=now,
            settings=state.settings,
            client=caller.client,
            user_public_id=user.user_public_id,
        )
        return 201, payments.view(s, transfer, at=now, settings=state.settings).as_json()

    def _prepare_interbank(
        s: Session, user: CurrentUser, payee: aliases.NetworkPayee
    ) -> dict[str, Any]:
        cfg = clearing_settings()
        aliases.check_network_amount(
            amount=body.amount, currency=body.currency, ceiling_minor=cfg.ibps_ceiling_minor
        )
        t = clearing.prepare(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            user_public_id=user.user_public_id,
            from_account_id=body.from_account_id,
            bank_code=payee.bank_code,
            payee_account=payee.reference,
            payee_name=payee.masked_name,
            amount=body.amount,
            speed="realtime",
            remark=body.remark or aliases.MOBILE_REMARK,
            at=now,
            settings=state.settings,
            clearing=cfg,
            client=caller.client,
        )
        return clearing.view(s, t, at=now, settings=state.settings)

    def run() -> Answer:
        return guarded(
            state,
            caller=caller,
            key=key,
            request={"op": "transfer.prepare_by_mobile", **body.model_dump()},
            details={"step": "prepare", "by": "mobile", "amount": body.amount[:40]},
            execute=execute,
        )

    try:
        return run()
    except DomainError as error:
        if error.code != "alias_at_network":
            raise
        payer = int(error.params["customer_id"])
    # Not an alias here: the look-up is counted and committed, nothing stored under the
    # key. Ask the network outside any transaction, then run the request again with its
    # answer (a replay of the key in between answers with the first answer, as ever).
    # When the network does not answer, nothing is kept: the same request may come again.
    asked = ask_network(
        state, customer_id=payer, mobile=body.to_mobile, name_check=body.name_check
    )
    return run()
