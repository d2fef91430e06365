"""Paying a mobile number registered at another bank (IBPS, 超级网银) through the API and
the pages, in Chinese and English: the network's masked name and bank, the name check, an
inter-bank IBPS transfer confirmed and followed like any other, the network down (503
alias_network_unavailable with Retry-After, nothing debited, nothing kept under the key),
the IBPS ceiling, and the hourly look-up limit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from functional.conftest import Bank, assert_problem
from functional.test_mobile_transfers import _web_login
from wangyin.aliases import actions as alias_actions
from wangyin.aliases.service import LOOKUPS_PER_HOUR
from wangyin.clearing import directory
from wangyin.clearing.models import InterbankTransfer
from wangyin.clearing.settings import ClearingSettings
from wangyin.clearing.tasks import ClearingJob
from wangyin.gateways.clearing.alias_directory import seed_demo_aliases
from wangyin.uow import run_read, run_write

ZHANG = "13900001111"  # 张大伟 at CMB
CMB = "308584000013"


@pytest.fixture
def net(bank: Bank) -> Bank:
    run_write(bank.db, directory.seed_directory)
    run_write(bank.db, lambda s: seed_demo_aliases(s, at=bank.clock.now()))
    return bank


def _down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        alias_actions, "clearing_settings", lambda: ClearingSettings(sim_unavailable=True)
    )


def _by_mobile(bank: Bank, name_check: str, amount: str = "66.00", **headers: str):  # type: ignore[no-untyped-def]
    return bank.client.post(
        "/api/v1/transfers/by-mobile",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_mobile": ZHANG,
            "name_check": name_check,
            "amount": amount,
        },
        headers={**bank.headers["zhangwei"], "Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def _transfers(bank: Bank) -> int:
    return run_read(
        bank.db, lambda s: s.scalar(select(func.count()).select_from(InterbankTransfer))
    )


def _available(bank: Bank) -> str:
    return bank.balances()[bank.a.account.account_number]


def _look_ups_left(net: Bank, left: int) -> None:
    """The payer may look up exactly `left` more numbers this hour; the next is refused."""
    headers = net.headers["zhangwei"]
    for _ in range(left):
        ok = net.client.post(
            "/api/v1/mobile-payees/lookup", json={"mobile": ZHANG}, headers=headers
        )
        assert ok.status_code == 200, ok.text
    assert_problem(
        net.client.post("/api/v1/mobile-payees/lookup", json={"mobile": ZHANG}, headers=headers),
        "rate_limited",
        429,
    )


def test_pay_another_banks_alias_through_the_api(net: Bank) -> None:
    headers = net.headers["zhangwei"]
    shown = net.client.post("/api/v1/mobile-payees/lookup", json={"mobile": ZHANG}, headers=headers)
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "masked_name": "张*伟",
        "bank_name": "招商银行",
        "account_number": "",
        "bank_code": CMB,
        "via": "ibps",
    }
    assert "6225880000001111" not in shown.text and "张大伟" not in shown.text
    zh = assert_problem(_by_mobile(net, "王"), "alias_name_mismatch", 422)
    assert "姓名不符" in zh["detail"]
    en = assert_problem(_by_mobile(net, "王", **{"Accept-Language": "en"}), "alias_name_mismatch")
    assert "does not match" in en["detail"]
    over = assert_problem(_by_mobile(net, "张", amount="50000.01"), "alias_over_ibps_ceiling", 422)
    assert "50,000.00" in over["detail"]
    # The inter-bank path's own rules apply: the balance, the public edition.
    assert_problem(_by_mobile(net, "张", amount="20000.00"), "insufficient_funds", 422)
    public = net.client.post(
        "/api/v1/transfers/by-mobile",
        json={
            "from_account_id": net.c.account.public_id,
            "to_mobile": ZHANG,
            "name_check": "张",
            "amount": "1.00",
        },
        headers={**net.headers["wangfang"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert_problem(public, "public_edition", 403)
    before = _available(net)
    prepared = _by_mobile(net, "大伟")
    assert prepared.status_code == 201, prepared.text
    t = prepared.json()
    assert (t["system"], t["bank_code"], t["payee_name"], t["speed"]) == (
        "IBPS",
        CMB,
        "张*伟",
        "realtime",
    )
    assert "张大伟" not in prepared.text and "6225880000001111" not in prepared.text
    # Confirmed like any inter-bank transfer: the code, the transaction password.
    sent = net.client.post(f"/api/v1/interbank-transfers/{t['id']}/code", headers=headers)
    assert sent.status_code == 204, sent.text
    done = net.client.post(
        f"/api/v1/interbank-transfers/{t['id']}/confirm",
        json={"transaction_password": "258147", "code": net.last_code(net.a.customer.mobile)},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "WAITING"
    job = ClearingJob(net.db, net.clock, settings=ClearingSettings(statement_dir="/nonexistent"))
    job.send_due(net.clock.now())
    job.follow(net.clock.now())
    got = net.client.get(f"/api/v1/interbank-transfers/{t['id']}", headers=headers).json()
    assert got["status"] == "SETTLED"
    after = _available(net)
    assert float(before.replace(",", "")) - float(after.replace(",", "")) == 66.0
    # Another customer's view of it is none.
    assert_problem(
        net.client.get(f"/api/v1/interbank-transfers/{t['id']}", headers=net.headers["lina"]),
        "transfer_not_found",
        404,
    )


def test_network_down_is_a_clear_503_and_debits_nothing(
    net: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    _down(monkeypatch)
    before = _available(net)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for lang, words in (("zh", "暂时无法查询他行手机号"), ("en", "cannot be looked up")):
        looked = net.client.post(
            "/api/v1/mobile-payees/lookup",
            json={"mobile": ZHANG},
            headers={**net.headers["zhangwei"], "Accept-Language": lang},
        )
        assert looked.status_code == 503, looked.text
        assert looked.headers["content-type"].startswith("application/problem+json")
        assert looked.json()["code"] == "alias_network_unavailable"
        assert words in looked.json()["detail"]
        assert int(looked.headers["Retry-After"]) > 0
        paid = _by_mobile(net, "张", **key)
        assert paid.status_code == 503 and paid.json()["code"] == "alias_network_unavailable"
    assert _transfers(net) == 0 and _available(net) == before
    # Back up: the same request under the same key is prepared (the 503 was not kept).
    monkeypatch.undo()
    again = _by_mobile(net, "张", **key)
    assert again.status_code == 201, again.text
    assert _transfers(net) == 1 and _available(net) == before


def test_a_resent_payment_to_another_banks_alias_is_the_first_answer_counted_once(
    net: Bank,
) -> None:
    """The payment runs two transactions with the network asked between them; sent again
    with the same key (a refusal and a success, three times each), it answers the first
    answer, prepares one transfer, and counts one look-up per key, not per send."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    refused_key = {"Idempotency-Key": uuid.uuid4().hex}
    answers = [_by_mobile(net, "大伟", **key) for _ in range(3)]
    refusals = [_by_mobile(net, "王", **refused_key) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == ["false", "true", "true"]
    assert [r.json()["code"] for r in refusals] == ["alias_name_mismatch"] * 3
    assert refusals[-1].headers.get("Idempotent-Replayed") == "true"
    assert _transfers(net) == 1
    # Two keys, two look-ups: the hour's other eight remain.
    _look_ups_left(net, LOOKUPS_PER_HOUR - 2)


def test_look_ups_at_the_network_count_toward_the_hourly_limit(net: Bank) -> None:
    _look_ups_left(net, LOOKUPS_PER_HOUR)
    assert_problem(_by_mobile(net, "张"), "rate_limited", 429)
    assert _transfers(net) == 0


def test_pages_from_mobile_number_to_result_in_both_languages(
    net: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = _web_login(net, "zhangwei")
    client = net.client
    form = client.get("/mobile-transfer")
    assert 'method="post" action="/mobile-transfer"' in form.text  # the number stays out of URLs
    step_two = client.post(
        "/mobile-transfer", data={"csrf_token": csrf, "step": "lookup", "mobile": ZHANG}
    )
    assert step_two.status_code == 200, step_two.text[-2000:]
    assert "张*伟" in step_two.text and "招商银行" in step_two.text
    assert "超级网银" in step_two.text and "50,000.00" in step_two.text
    assert "张大伟" not in step_two.text and "6225880000001111" not in step_two.text
    english = client.post(
        "/mobile-transfer?lang=en", data={"csrf_token": csrf, "step": "lookup", "mobile": ZHANG}
    )
    assert "online interbank payment system (IBPS)" in english.text
    client.get("/mobile-transfer?lang=zh")  # back to Chinese
    data = {
        "csrf_token": csrf,
        "idempotency_key": uuid.uuid4().hex,
        "to_mobile": ZHANG,
        "from_account_id": net.a.account.public_id,
        "name_check": "王",
        "amount": "12.00",
    }
    wrong = client.post("/mobile-transfer", data=data)
    assert wrong.status_code == 422 and "姓名不符" in wrong.text
    posted = client.post(
        "/mobile-transfer",
        data={**data, "name_check": "张", "idempotency_key": uuid.uuid4().hex},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text[-2000:]
    confirm_url = posted.headers["location"]
    assert confirm_url.startswith("/interbank/") and confirm_url.endswith("/confirm")
    confirm = client.get(confirm_url)
    assert "招商银行" in confirm.text and "张*伟" in confirm.text and "12.00" in confirm.text
    tid = confirm_url.split("/")[2]
    client.post(f"/interbank/{tid}/code", data={"csrf_token": csrf, "channel": "sms"})
    done = client.post(
        f"/interbank/{tid}/confirm",
        data={
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            "transaction_password": "258147",
            "code": net.last_code(net.a.customer.mobile),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[-2000:]
    job = ClearingJob(net.db, net.clock, settings=ClearingSettings(statement_dir="/nonexistent"))
    job.send_due(net.clock.now())
    result = client.get(f"/interbank/{tid}").text
    assert 'data-status="SETTLED"' in result
    # The network down: a translated message on the page, nothing prepared.
    _down(monkeypatch)
    down = client.post(
        "/mobile-transfer", data={"csrf_token": csrf, "step": "lookup", "mobile": ZHANG}
    )
    assert down.status_code == 503 and "暂时无法查询他行手机号" in down.text
    down_en = client.post(
        "/mobile-transfer?lang=en",
        data={**data, "name_check": "张", "idempotency_key": uuid.uuid4().hex},
    )
    assert down_en.status_code == 503 and "Nothing was debited" in down_en.text
    assert _transfers(net) == 1
