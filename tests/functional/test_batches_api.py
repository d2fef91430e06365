"""Batch transfers over HTTP: files in the encodings Excel writes (UTF-8 with BOM, GBK) and
XLSX, binary garbage and oversized files refused clearly, the preview, one confirmation,
the worker's execution, the result file; and the pages."""

from __future__ import annotations

import csv
import io
import uuid

from openpyxl import Workbook, load_workbook

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN, credential_of
from functional.conftest import Bank
from wangyin.batches import tasks


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _csv(bank: Bank, rows: int = 3, *, bad: bool = False) -> str:
    lines = ["收款账号,收款人户名,金额,附言"]
    for i in range(rows):
        lines.append(f"{bank.b.account.account_number},李娜,{i + 1}.00,货款{i}")
    if bad:
        lines.append("12x4,李娜,abc,")
    return "\r\n".join(lines) + "\r\n"


def _upload(bank: Bank, data: bytes, who: str = "zhangwei", lang: str = "en") -> dict:  # type: ignore[type-arg]
    response = bank.client.post(
        "/api/v1/batches/upload",
        params={"from_account_id": bank.a.account.public_id},
        content=data,
        headers={
            **bank.headers[who],
            "X-Filename": "pay.csv",
            "Content-Type": "text/csv",
            "Accept-Language": lang,
        },
    )
    return {**response.json(), "http": response.status_code}


def test_files_in_every_encoding_excel_writes_and_bad_files(bank: Bank) -> None:
    for data in (
        _csv(bank).encode("utf-8-sig"),
        _csv(bank).encode("gbk"),
        _csv(bank).encode("utf-8"),
    ):
        batch = _upload(bank, data)
        assert batch["http"] == 201, batch
        assert (batch["count"], batch["total"], batch["invalid_count"]) == (3, "6.00", 0)
        assert batch["lines"][0]["payee_name"] == "李娜"

    sheet = Workbook()
    ws = sheet.active
    assert ws is not None
    ws.append(["收款账号", "收款人户名", "金额", "附言"])
    ws.append([bank.b.account.account_number, "李娜", 12.5, "货款"])
    out = io.BytesIO()
    sheet.save(out)
    xlsx = _upload(bank, out.getvalue())
    assert (xlsx["count"], xlsx["total"]) == (1, "12.50")

    bad = _upload(bank, _csv(bank, bad=True).encode("utf-8-sig"))
    assert bad["invalid_count"] == 1
    assert bad["lines"][-1]["reason"] == "batch_line_account"
    assert "10 to 30 digits" in bad["lines"][-1]["reason_text"]

    garbage = _upload(bank, bytes(range(256)) * 20, lang="zh-CN")
    assert garbage["http"] == 422 and garbage["code"] == "batch_file_unreadable"
    assert "无法读取" in garbage["detail"]
    too_many = _upload(bank, ("\r\n".join(["6230580000000000001,李娜,1.00"] * 5001)).encode())
    assert too_many["http"] == 413 and too_many["code"] == "batch_file_too_large"
    just_over = _upload(bank, b"6" * (2 * 1024 * 1024 + 1))
    assert just_over["http"] == 413 and just_over["code"] == "batch_file_too_large"
    # 100 MB is refused by its declared length, before a byte of it is read.
    huge = bank.client.post(
        "/api/v1/batches/upload",
        params={"from_account_id": bank.a.account.public_id},
        content=b"",
        headers={**bank.headers["zhangwei"], "Content-Length": str(100 * 1024 * 1024)},
    )
    assert huge.status_code == 413
    empty = _upload(bank, "收款账号,收款人户名,金额,附言\r\n".encode())
    assert empty["code"] == "batch_empty"


def test_a_batch_through_the_api(bank: Bank) -> None:
    headers = bank.headers["zhangwei"]
    batch = _upload(bank, _csv(bank, rows=5).encode("utf-8-sig"))
    bid = batch["id"]
    other = bank.client.get(f"/api/v1/batches/{bid}", headers=bank.headers["lina"])
    assert other.status_code == 404
    assert bank.client.post(f"/api/v1/batches/{bid}/code", headers=headers).status_code == 204
    code = bank.last_code(bank.a.customer.mobile)
    key = _key()
    body = {"key_digest": batch["key_digest"], "transaction_password": DEFAULT_PIN, "code": code}
    confirmed = bank.client.post(
        f"/api/v1/batches/{bid}/confirm", json=body, headers={**headers, **key}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "executing"
    replay = bank.client.post(
        f"/api/v1/batches/{bid}/confirm", json=body, headers={**headers, **key}
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert tasks.run_batches(bank.db, bank.settings, at=bank.clock.now()) == 5
    done = bank.client.get(f"/api/v1/batches/{bid}", headers=headers).json()
    assert (done["status"], done["completed_count"]) == ("done", 5)
    assert bank.balances()[bank.b.account.account_number] == "515.00"
    result = bank.client.get(f"/api/v1/batches/{bid}/result.csv", headers=headers)
    assert result.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert len(rows) == 6 and rows[1][5] in ("Completed", "成功")

    # A batch with an error line cannot be confirmed.
    bad = _upload(bank, _csv(bank, bad=True).encode("utf-8-sig"))
    refused = bank.client.post(
        f"/api/v1/batches/{bad['id']}/code", headers={**headers, "Accept-Language": "en"}
    )
    assert refused.json()["code"] == "batch_has_errors"
    typed = bank.client.post(
        "/api/v1/batches",
        json={
            "from_account_id": bank.a.account.public_id,
            "lines": [
                {
                    "to_account_number": bank.b.account.account_number,
                    "payee_name": "李娜",
                    "amount": "1.00",
                }
            ],
        },
        headers=headers,
    )
    assert typed.status_code == 201 and typed.json()["count"] == 1
    cancelled = bank.client.post(f"/api/v1/batches/{typed.json()['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"


def test_the_template_is_in_chinese(bank: Bank) -> None:
    response = bank.client.get("/api/v1/batches/template.xlsx", headers=bank.headers["zhangwei"])
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["收款账号", "收款人户名", "金额", "附言"]


def _web_login(bank: Bank) -> str:
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    return client.get("/transfer/batches").text.split('name="csrf_token" value="')[1].split('"')[0]


def _field(html: str, name: str) -> str:
    return html.split(f'name="{name}" value="')[1].split('"')[0]


def test_batch_pages(bank: Bank) -> None:
    client = bank.client
    csrf = _web_login(bank)
    page = client.get("/transfer/batches")
    assert "批量转账" in page.text and "下载模板" in page.text
    bad = client.post(
        "/transfer/batches/upload",
        data={"csrf_token": csrf, "from_account_id": bank.a.account.public_id},
        files={"file": ("pay.csv", _csv(bank, bad=True).encode("gbk"), "text/csv")},
        follow_redirects=True,
    )
    assert "有 1 行存在错误" in bad.text and "收款账号须为 10 到 30 位数字" in bad.text
    garbage = client.post(
        "/transfer/batches/upload",
        data={"csrf_token": csrf, "from_account_id": bank.a.account.public_id},
        files={"file": ("pay.csv", b"\x00\x01\x02" * 100, "text/csv")},
    )
    assert garbage.status_code == 422 and "无法读取" in garbage.text
    typed = client.post(
        "/transfer/batches",
        data={
            "csrf_token": csrf,
            "from_account_id": bank.a.account.public_id,
            "lines": f"{bank.b.account.account_number},李娜,2.00,午餐\n"
            f"{bank.b.account.account_number}\t李娜\t3.00",
        },
        follow_redirects=False,
    )
    assert typed.status_code == 303, typed.text
    detail_path = typed.headers["location"]
    preview = client.get(detail_path)
    assert "5.00" in preview.text and "确认整批转账" in preview.text
    client.post(f"{detail_path}/code", data={"csrf_token": csrf})
    preview = client.get(detail_path)
    done = client.post(
        f"{detail_path}/confirm",
        data={
            "csrf_token": csrf,
            "idempotency_key": _field(preview.text, "idempotency_key"),
            "key_digest": _field(preview.text, "key_digest"),
            "code": bank.last_code(bank.a.customer.mobile),
            "transaction_password": DEFAULT_PIN,
        },
        follow_redirects=True,
    )
    assert "批次正在执行" in done.text
    tasks.run_batches(bank.db, bank.settings, at=bank.clock.now())
    finished = client.get(detail_path + "?lang=en")
    assert "The batch is done." in finished.text
    result = client.get(f"{detail_path}/result.csv")
    assert result.status_code == 200 and "2.00" in result.content.decode("utf-8-sig")
