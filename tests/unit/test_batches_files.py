"""Reading batch files and validating their lines (no database)."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from wangyin.batches import service as batches
from wangyin.batches.service import LineIn
from wangyin.errors import DomainError

GOOD = "6230580000000000001"


def test_the_header_row_is_skipped_whatever_its_words() -> None:
    for header in ("收款账号,户名,金额,附言", "Account,Name,Amount,Remark", "账号,收款人,金额"):
        lines = batches.read_file(f"{header}\r\n{GOOD},张三,1.00,货款\r\n".encode())
        assert lines == [LineIn(GOOD, "张三", "1.00", "货款")]
    # A file without a header keeps its first line.
    assert len(batches.read_file(f"{GOOD},张三,1.00\n{GOOD},李四,2.00\n".encode())) == 2


def test_xlsx_numbers_read_as_the_customer_typed_them() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["收款账号", "收款人户名", "金额", "附言"])
    sheet.append([GOOD, "张三", 12.5, None])
    sheet.append([6230580000000002, "李四", 3, "x"])  # a number Excel kept exactly
    out = io.BytesIO()
    book.save(out)
    lines = batches.read_file(out.getvalue())
    assert lines[0] == LineIn(GOOD, "张三", "12.5", "")
    assert lines[1] == LineIn("6230580000000002", "李四", "3", "x")


def test_a_broken_xlsx_and_control_characters_are_unreadable() -> None:
    for data in (b"PK\x03\x04garbage" * 10, b"a,b,c\x07\n", b"\xff\xfe\xfa\xfb" * 50):
        with pytest.raises(DomainError) as refused:
            batches.read_file(data)
        assert refused.value.code == "batch_file_unreadable"


def test_names_and_remarks_with_direction_controls_are_refused() -> None:
    assert batches.validate(LineIn(GOOD, "张\u202e三", "1.00"), currency="CNY")[1] == (
        "batch_line_name"
    )
    assert batches.validate(LineIn(GOOD, "张三", "1.00", "\u2066x"), currency="CNY")[1] == (
        "batch_line_remark"
    )
    assert batches.validate(LineIn(f" {GOOD[:4]} {GOOD[4:]} ", "张三", "1.00"), currency="CNY") == (
        100,
        "",
    )


def test_the_result_file_cannot_carry_a_spreadsheet_formula() -> None:
    assert batches._safe('=HYPERLINK("http://x")').startswith("'")
    assert batches._safe("+1") == "'+1" and batches._safe("张三") == "张三"
    assert batches._as_text_cell(GOOD) == f'="{GOOD}"'


def test_the_csv_template_is_utf8_with_a_bom_and_reads_back() -> None:
    data = batches.template_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    assert batches.read_file(data)[0].payee_name == "张三"


def test_a_zip_that_is_no_workbook_is_unreadable_and_a_long_sheet_too_large() -> None:
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("[Content_Types].xml", "<not-a-workbook/>")
    with pytest.raises(DomainError) as unreadable:
        batches.read_file(other.getvalue())
    assert unreadable.value.code == "batch_file_unreadable"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for _ in range(batches.MAX_LINES + 2):
        sheet.append([GOOD, "张三", "1.00"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(DomainError) as too_large:
        batches.read_file(out.getvalue())
    assert too_large.value.code == "batch_file_too_large"
