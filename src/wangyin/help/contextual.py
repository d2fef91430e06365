"""The help beside each form (5.2.1-d), as data: a short hint the form's main field points
at (aria-describedby), more words in a <details> disclosure, and the FAQ entry it links to.
The texts are English msgids, translated in help.po."""

from __future__ import annotations

from dataclasses import dataclass

from wangyin.help.faq import BY_KEY


@dataclass(frozen=True)
class FormHelp:
    hint: str
    more: str
    faq: str  # a key of help/faq.py


FORMS: dict[str, FormHelp] = {
    "login": FormHelp(
        "Use the login name you chose when registering, or your registered mobile number.",
        "Five wrong passwords in a row lock login for 30 minutes. On a new computer or "
        "phone we also text you a code and ask for your ID number. The bank never asks "
        "for your password by phone or SMS.",
        "faq_locked",
    ),
    "register": FormHelp(
        "You need a debit card of this bank and the mobile number you gave the bank.",
        "We text a code to the registered mobile to check it is you. Online registration "
        "gives the query-only edition; for transfers, open the professional edition at a "
        "branch.",
        "faq_register",
    ),
    "transfer": FormHelp(
        "Check the payee's name and account number: a transfer cannot be called back.",
        "Amounts are in yuan with at most two decimal places. Your limits and the day's "
        "remaining amount are checked before the confirm page; nothing is taken until you "
        "confirm with your transaction password and the SMS code.",
        "faq_limits",
    ),
    "security": FormHelp(
        "Each setting is its own task: open one, change it, and confirm.",
        "Lowering a limit or freezing never needs a code; raising a limit or unfreezing "
        "needs the code texted to your registered mobile. If you see a payment you do not "
        "recognise, use Freeze all at once and call the bank.",
        "faq_freeze",
    ),
    "payees": FormHelp(
        "Ask the payee for the account number yourself; never take it from a message or a caller.",
        "We check the shape of the account number, not whether it exists: check it with "
        "the payee. Never add a payee because a caller asks you to.",
        "faq_fraud_calls",
    ),
    "limits": FormHelp(
        "Amounts in yuan. Lower limits take effect at once; raising needs an SMS code.",
        "Limits cap each transfer and each day's total. New online banking starts at "
        "50,000 a transfer and 100,000 a day; the bank's maximum applies above that.",
        "faq_limits",
    ),
}


def form_help(topic: str) -> FormHelp:
    return FORMS[topic]


# Every link goes to a real FAQ entry (checked at import: a renamed key fails at once).
for _help in FORMS.values():
    if _help.faq not in BY_KEY:
        raise RuntimeError(f"form help links to an unknown FAQ entry {_help.faq!r}")
