"""Domain errors with stable machine codes.

Services raise `DomainError("insufficient_funds")`; the web layer turns it into an RFC 9457
`application/problem+json` body (API) or a plain-words message (pages), translated into
the request's language. The English text here is the gettext msgid; the Chinese lives in
the Babel catalog `web/locales/zh_Hans/LC_MESSAGES/messages.po`.
"""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, English message template). Templates use str.format fields.
ERRORS: dict[str, tuple[int, str]] = {
    # input
    "validation_error": (422, "Some fields are missing or malformed."),
    "malformed_json": (400, "The request body is not valid JSON."),
    "invalid_amount": (422, "The amount is not a valid number."),
    "amount_not_positive": (422, "The amount must be greater than zero."),
    "amount_too_precise": (
        422,
        "{currency} amounts can have at most {places} decimal places.",
    ),
    "amount_too_large": (422, "The amount is larger than any single transfer allows."),
    "unknown_currency": (422, "The currency {currency} is not supported."),
    "currency_mismatch": (422, "The payee account does not hold {currency}."),
    "invalid_date_range": (422, "The start date must not be after the end date."),
    # identity
    "invalid_id_number": (422, "The ID number is not a valid mainland resident ID."),
    "invalid_mobile": (422, "The mobile number must be 11 digits starting with 1."),
    "invalid_card_number": (422, "The card number is not valid."),
    "card_not_found": (422, "The card does not match the ID number, or is not one of ours."),
    "already_registered": (409, "This card or ID number is already registered for online banking."),
    "username_taken": (409, "This login name is already taken."),
    "invalid_username": (
        422,
        "A login name is 4 to 32 letters, digits or underscores and starts with a letter.",
    ),
    "weak_password": (422, "The password is too weak: {reason}"),
    "password_reused": (422, "The new password must differ from the current one."),
    "password_in_history": (
        422,
        "The new password must not be one of your last {count} passwords.",
    ),
    "invalid_credentials": (401, "The login name or password is incorrect."),
    "wrong_password": (422, "The current password is incorrect."),
    "not_authenticated": (401, "Please log in first."),
    "csrf_failed": (403, "The form has expired. Please reload the page and try again."),
    "customer_not_found": (404, "No such customer."),
    "public_edition": (
        403,
        "Your online banking is the public edition (query only). "
        "Please visit a branch to open the professional edition for transfers.",
    ),
    "customer_inactive": (403, "This online banking service is suspended."),
    # one-time codes and login hardening
    "otp_invalid": (422, "The verification code is wrong or no longer valid."),
    "otp_expired": (422, "The verification code has expired. Please request a new one."),
    "otp_too_many_attempts": (
        422,
        "Too many wrong codes. Please request a new verification code.",
    ),
    "otp_daily_cap": (
        429,
        "You have requested {cap} verification codes today, the daily maximum. "
        "Please try again tomorrow or call us.",
    ),
    "login_locked": (
        423,
        "Too many wrong passwords: login is locked until {until}. "
        "We have sent an SMS to your registered phone.",
    ),
    "challenge_not_found": (404, "This login step has expired. Please log in again."),
    "wrong_id_number": (422, "The ID number does not match our records."),
    "wrong_transaction_password": (422, "The transaction password is incorrect."),
    "second_factor_invalid": (
        422,
        "The transaction password or the verification code is wrong.",
    ),
    "transaction_password_required": (
        422,
        "Please enter your transaction password and the verification code.",
    ),
    "transfers_frozen": (
        403,
        "Transfers are frozen on your online banking. Unfreeze them in the security center.",
    ),
    "account_frozen": (
        403,
        "Your online banking is frozen. Unfreeze it in the security center with a code.",
    ),
    "step_up_required": (
        422,
        "Raising a limit or turning on password-free payments needs a verification code.",
    ),
    "limit_above_bank_maximum": (422, "The limit cannot be higher than the bank's {limit}."),
    "device_not_found": (404, "No such device."),
    # application-layer encryption and the soft keyboard
    "channel_required": (
        400,
        "This field must be sent encrypted over a secure channel. Please reload the page.",
    ),
    "channel_invalid": (
        400,
        "The secure channel is unknown or has expired, or the value does not decrypt. "
        "Please reload the page and try again.",
    ),
    "channel_replay": (
        409,
        "This encrypted value was already used. Please reload the page and try again.",
    ),
    "channel_key_invalid": (422, "The public key is not a valid point of the chosen curve."),
    "keyboard_expired": (
        422,
        "The on-screen keyboard has expired or was already used. "
        "Please enter the transaction password again.",
    ),
    # accounts
    "account_not_found": (404, "No such account."),
    "account_inactive": (422, "The account is not active."),
    # transfers
    "idempotency_key_required": (
        428,
        "An Idempotency-Key header is required for requests that move money.",
    ),
    "invalid_idempotency_key": (
        422,
        "The Idempotency-Key must be 8 to 128 letters, digits, '-' or '_'.",
    ),
    "idempotency_key_reused": (
        422,
        "This Idempotency-Key was already used for a different request.",
    ),
    "idempotency_in_progress": (409, "The same request is still being processed."),
    "same_account": (422, "The payee account must differ from the paying account."),
    "payee_not_found": (422, "The payee account does not exist."),
    "payee_inactive": (422, "The payee account cannot receive transfers."),
    "payee_name_mismatch": (422, "The payee name does not match the account holder."),
    "insufficient_funds": (422, "The available balance is not enough for this transfer."),
    "over_single_limit": (422, "The amount is over the per-transfer limit of {limit}."),
    "over_daily_limit": (422, "The amount is over what remains of today's limit ({remaining})."),
    "transfer_not_found": (404, "No such transfer."),
    # the payee book (issue 6 §3)
    "over_payee_limit": (422, "The amount is over the limit of {limit} you set for this payee."),
    "payee_already_saved": (409, "This payee is already in your payee book."),
    "payee_book_full": (422, "Your payee book is full ({limit} payees). Remove one first."),
    "payee_entry_not_found": (404, "No such payee in your payee book."),
    # transfer by mobile number (issue 6 §2)
    "alias_account_unsuitable": (
        422,
        "Choose an active CNY account of yours to receive payments by mobile number.",
    ),
    "alias_taken": (409, "This mobile number already receives payments for someone else."),
    "alias_not_found": (
        404,
        "No account at this bank or another receives payments by this mobile number.",
    ),
    # aliases at other banks, found through the IBPS network (超级网银)
    "alias_at_network": (
        409,
        "This mobile number is not registered at this bank; it is looked up at other banks.",
    ),
    "alias_network_unavailable": (
        503,
        "Mobile numbers at other banks cannot be looked up right now. Nothing was debited; "
        "please try again in a moment.",
    ),
    "alias_over_ibps_ceiling": (
        422,
        "A transfer by mobile number to another bank can be at most {limit}.",
    ),
    "alias_name_mismatch": (
        422,
        "The name does not match. Type the payee's surname or given name.",
    ),
    # e-receipts (issue 6 §7)
    "receipt_not_found": (
        404,
        "There is no receipt for this transfer: only completed transfers have one.",
    ),
    "receipt_not_verified": (
        404,
        "No receipt matches this reference and verification code. Check both against the "
        "receipt; a receipt that does not verify was not issued by the bank as it reads.",
    ),
    # the rules of the non-counter channel (银发〔2016〕261号, 〔2018〕16号; issue 6 §6)
    "certificate_required": (
        422,
        "Transfers to other people's accounts above {limit} CNY a day need a digital "
        "certificate or an electronic signature. Please use the bank counter, or a "
        "certificate (USB Key), for larger amounts.",
    ),
    "warnings_not_acknowledged": (
        422,
        "Please read the warning shown with this transfer and confirm that you have read it.",
    ),
    "class_limit": (
        422,
        "This is a class II/III account: payments to accounts other than its bound account "
        "are limited to {limit} CNY for the period.",
    ),
    "payee_class_limit": (
        422,
        "The payee's account is a class II/III account and cannot receive this amount "
        "(limit {limit} CNY).",
    ),
    "transfer_expired": (
        422,
        "The confirmation time has run out. Please start the transfer again.",
    ),
    "transfer_already_confirmed": (409, "This transfer has already been confirmed."),
    "transfer_not_pending": (409, "This transfer can no longer be confirmed."),
    "transfer_data_changed": (
        422,
        "The transfer details changed after you saw them. Please start again.",
    ),
    # inter-bank transfers through the clearing network (issue 6 §1, clearing/)
    "bank_code_required": (
        422,
        "Please choose the payee's bank: it cannot be told from this account number.",
    ),
    "invalid_bank_code": (
        422,
        "A bank code (联行号) has 12 digits and a check digit; this one is not valid.",
    ),
    "unknown_bank_code": (422, "There is no bank with this code in the bank directory."),
    "same_bank_payee": (
        422,
        "This account is at our bank: please use the transfer to a Wangyin account.",
    ),
    "interbank_cny_only": (422, "Transfers to other banks are made from CNY accounts only."),
    "invalid_payee_account": (
        422,
        "The payee's account or card number must be 8 to 34 digits.",
    ),
    "interbank_not_revocable": (
        409,
        "This transfer has already been sent to the clearing network and can no longer be "
        "revoked.",
    ),
    "reconciliation_not_found": (404, "No such reconciliation run or difference."),
    "mismatch_resolved": (409, "This difference has already been resolved."),
    "resolution_reason_required": (
        422,
        "Say how the difference was resolved (4 to 300 characters).",
    ),
    # identity (issue 11 #13, #16)
    "unfreeze_factor_required": (
        422,
        "To unfreeze, enter your transaction password or your ID number as well as the code.",
    ),
    "registration_not_found": (
        404,
        "This registration has expired or is already finished. Please register again.",
    ),
    # scheduled and batch transfers (issue 6 §4, §5)
    "schedule_not_found": (404, "No such scheduled transfer."),
    "schedule_not_pending": (409, "This scheduled transfer is not waiting for confirmation."),
    "schedule_expired": (
        422,
        "The confirmation time has run out. Please set up the scheduled transfer again.",
    ),
    "schedule_time_invalid": (
        422,
        "The first transfer must be at least {minutes} minutes from now and within a year.",
    ),
    "schedule_end_invalid": (
        422,
        "The end date must not be before the first transfer, and the number of transfers "
        "must be from 1 to {max}.",
    ),
    "schedule_not_active": (409, "Only an active scheduled transfer can be paused."),
    "schedule_not_paused": (409, "Only a paused scheduled transfer can be resumed."),
    "schedule_closed": (409, "This scheduled transfer has ended or was cancelled."),
    "schedule_nothing_left": (409, "This scheduled transfer has no transfers left to make."),
    "schedules_too_many": (
        409,
        "You have {limit} scheduled transfers, the maximum. Please cancel one first.",
    ),
    "batch_not_found": (404, "No such batch."),
    "batch_file_too_large": (
        413,
        "The file is larger than {size} or has more than {lines} lines. Please split it.",
    ),
    "batch_file_unreadable": (
        422,
        "The file could not be read. Please upload a CSV file (UTF-8 or GBK) or an XLSX "
        "file made from the template.",
    ),
    "batch_empty": (422, "The file has no transfer lines."),
    "batch_has_errors": (
        422,
        "{count} lines have errors. Please correct them and upload the batch again.",
    ),
    "batch_not_draft": (409, "This batch has already been confirmed or cancelled."),
    "batch_expired": (
        422,
        "The confirmation time has run out. Please upload the batch again.",
    ),
    "batch_line_account": (422, "The payee account number must be 10 to 30 digits."),
    "batch_line_name": (422, "The payee name is missing or longer than 50 characters."),
    "batch_line_remark": (422, "The remark is longer than 50 characters."),
    # generic
    "not_found": (404, "The page or resource does not exist."),
    "method_not_allowed": (405, "This method is not allowed here."),
    "rate_limited": (429, "Too many requests. Please wait a moment."),
    "busy": (503, "The system is busy. Please try again."),
    "service_unavailable": (
        503,
        "The service is temporarily unavailable. Please try again in a moment.",
    ),
    # The commit's acknowledgement was lost: the action may or may not have happened.
    "outcome_unknown": (
        503,
        "We could not confirm whether your request was completed. Please check the "
        "transfer's status, or send the same request again with the same Idempotency-Key: "
        "it will not be carried out twice.",
    ),
    "internal_error": (
        500,
        "Something went wrong on our side. Please check your transfers and balances "
        "before trying again.",
    ),
    # Risk control (issue 7 §3, §5: wangyin.risk).
    "case_taken": (409, "This case is already assigned or closed."),
    "case_not_found": (404, "No such case."),
    "review_not_pending": (409, "This sign-up is not waiting for a decision."),
    "under_review": (
        403,
        "Your online banking is being reviewed by the bank. We will let you know when it "
        "opens.",
    ),
}


class DomainError(Exception):
    """A refusal with a stable code. Nothing of the action has been written when it is
    raised; only its bookkeeping may be kept (`keep`)."""

    def __init__(self, code: str, **params: Any) -> None:
        if code not in ERRORS:
            raise KeyError(f"unknown error code {code!r}")
        super().__init__(code)
        self.code = code
        self.params = params
        # Set by the idempotency layer: this refusal's bookkeeping (its stored answer, a
        # counted wrong PIN) commits before it is answered (`uow.run_write`).
        self.keep = False
        # A stored first answer given again for the same Idempotency-Key.
        self.replayed = False

    @property
    def status(self) -> int:
        return ERRORS[self.code][0]

    @property
    def template(self) -> str:
        return ERRORS[self.code][1]

    def __str__(self) -> str:
        return f"{self.code}: {self.template.format(**self.params)}"
