"""The PDF e-receipt (电子回单), drawn with ReportLab.

Chinese text needs a font with its glyphs. A CJK TrueType font on the machine (Debian's
fonts-wqy-microhei or fonts-noto-cjk, installed by `make chromium`) is embedded, so the
receipt shows the same everywhere; without one, ReportLab's built-in Adobe CID font
STSong-Light is named instead, which every PDF reader with the Adobe CJK fonts (or
poppler-data) draws.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from wangyin.receipts.service import BANK_NAME, Receipt

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)


@cache
def font_name() -> str:
    """The registered font: an embedded CJK TrueType font when there is one."""
    for path in FONT_CANDIDATES:
        if path.exists():
            try:
                pdfmetrics.registerFont(TTFont("WangyinCJK", str(path), subfontIndex=0))
            except Exception:  # noqa: S112 - a font that does not load: try the next
                continue
            return "WangyinCJK"
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


CHANNELS = {"pin+otp": "交易密码+短信验证码", "password_free": "小额免密"}


def render(receipt: Receipt, *, verify_url: str) -> bytes:
    """One A5 landscape page: the bank's receipt with its reference and verification code."""
    buffer = io.BytesIO()
    width, height = landscape(A5)
    canvas = Canvas(buffer, pagesize=(width, height), pageCompression=1)
    canvas.setTitle(f"电子回单 {receipt.reference}")
    canvas.setAuthor(BANK_NAME)
    font = font_name()
    canvas.setFont(font, 16)
    canvas.drawCentredString(width / 2, height - 18 * mm, f"{BANK_NAME} 电子回单")
    canvas.setFont(font, 8)
    canvas.drawCentredString(width / 2, height - 24 * mm, "Electronic receipt · 转账 Transfer")
    rows = (
        ("回单编号 Reference", receipt.reference),
        ("交易时间 Completed", f"{receipt.completed_local}（北京时间）"),
        ("付款人 Payer", receipt.payer_name),
        ("付款账号 From account", receipt.payer_account),
        ("收款人 Payee", receipt.payee_name),
        ("收款账号 To account", receipt.payee_account),
        ("金额 Amount", f"{receipt.currency} {receipt.amount}"),
        ("附言 Remark", receipt.remark or "—"),
        ("认证方式 Confirmed with", CHANNELS.get(receipt.channel, receipt.channel)),
        ("交易状态 Status", "成功 Completed"),
    )
    top = height - 34 * mm
    canvas.setStrokeColor(colors.HexColor("#b0b7c3"))
    for index, (label, value) in enumerate(rows):
        y = top - index * 8 * mm
        canvas.setFont(font, 9)
        canvas.drawString(18 * mm, y, label)
        canvas.setFont(font, 11)
        canvas.drawString(70 * mm, y, value)
        canvas.line(18 * mm, y - 2.5 * mm, width - 18 * mm, y - 2.5 * mm)
    canvas.setFont(font, 9)
    canvas.drawString(18 * mm, 16 * mm, f"验证码 Verification code: {receipt.verification_code}")
    canvas.drawString(18 * mm, 11 * mm, f"真伪查验 Check this receipt at {verify_url}")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
