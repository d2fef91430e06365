"""The bank directory (联行号, CNAPS bank codes): 12 digits, bank 3 + city 4 + branch 4 +
a check digit; a seeded directory of the main banks' head offices and some branches;
the look-up by name, city, branch and pinyin initials; the bank of a card number's BIN.

The check digit: the PBOC does not publish its algorithm in the material we have
(/work/shared/spec/payment-systems.md). We use a weighted modulus 11 (weights 7, 3, 1, 4
repeated from the left, 11 minus the remainder, last digit of that) which the codes the
issue names carry (ICBC 102100099996, CMB 308584000013, Guilin Bank 313617000018); it
catches every single wrong digit but one in eleven; a code is accepted only if it is
also in the directory, which is what the network itself checks.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wangyin.clearing.models import BankBranch
from wangyin.payees.service import initials_of

_WEIGHTS = (7, 3, 1, 4)


def check_digit(body: str) -> str:
    total = sum(int(d) * _WEIGHTS[i % 4] for i, d in enumerate(body))
    return str((11 - total % 11) % 11 % 10)


def valid_code(code: str) -> bool:
    return len(code) == 12 and code.isdigit() and check_digit(code[:11]) == code[11]


def make_code(bank: str, city: str, branch: str) -> str:
    body = f"{bank}{city}{branch}"
    return body + check_digit(body)


# This bank (a city commercial bank, 313): a payee here is paid by an internal transfer.
OWN_BANK_NAME = "网银城市商业银行"
OWN_BANK_CODE = make_code("313", "6110", "0009")

# (bank name, English name, head office code, [(branch, city name, city code, branch no.)])
_BANKS: tuple[tuple[str, str, str, tuple[tuple[str, str, str, str], ...]], ...] = (
    (
        "中国工商银行",
        "ICBC",
        "102100099996",
        (
            ("北京分行营业部", "北京", "1000", "0001"),
            ("上海市分行营业部", "上海", "2900", "0005"),
            ("深圳分行营业部", "深圳", "5840", "0002"),
            ("桂林分行", "桂林", "6170", "0003"),
        ),
    ),
    (
        "中国农业银行",
        "ABC",
        make_code("103", "1000", "0002"),
        (
            ("北京市分行营业部", "北京", "1000", "0101"),
            ("广州分行营业部", "广州", "5810", "0012"),
        ),
    ),
    (
        "中国银行",
        "Bank of China",
        make_code("104", "1000", "0000"),
        (
            ("北京市分行营业部", "北京", "1000", "0031"),
            ("上海市分行营业部", "上海", "2900", "0031"),
            ("南宁分行营业部", "南宁", "6110", "0008"),
        ),
    ),
    (
        "中国建设银行",
        "CCB",
        make_code("105", "1000", "0001"),
        (
            ("北京市分行营业部", "北京", "1000", "0051"),
            ("杭州分行营业部", "杭州", "3310", "0052"),
        ),
    ),
    (
        "交通银行",
        "Bank of Communications",
        make_code("301", "2900", "0000"),
        (("北京市分行营业部", "北京", "1000", "0066"),),
    ),
    ("中信银行", "China CITIC Bank", make_code("302", "1000", "0100"), ()),
    ("中国光大银行", "China Everbright Bank", make_code("303", "1000", "0000"), ()),
    ("中国民生银行", "China Minsheng Bank", make_code("305", "1000", "0001"), ()),
    (
        "招商银行",
        "China Merchants Bank",
        "308584000013",
        (
            ("北京分行营业部", "北京", "1000", "0113"),
            ("上海分行营业部", "上海", "2900", "0117"),
            ("深圳南山支行", "深圳", "5840", "0132"),
        ),
    ),
    ("兴业银行", "Industrial Bank", make_code("309", "3910", "0001"), ()),
    ("上海浦东发展银行", "SPD Bank", make_code("310", "2900", "0001"), ()),
    ("中国邮政储蓄银行", "Postal Savings Bank of China", make_code("403", "1000", "0000"), ()),
    (
        "桂林银行",
        "Guilin Bank",
        "313617000018",
        (
            ("桂林七星支行", "桂林", "6170", "0021"),
            ("南宁分行营业部", "南宁", "6110", "0033"),
        ),
    ),
    ("北京银行", "Bank of Beijing", make_code("313", "1000", "0018"), ()),
)

# Card BINs of the banks above (the first six digits of their debit cards): the transfer
# form finds the bank from them.
CARD_BINS: dict[str, str] = {
    "622202": "102100099996",
    "621226": "102100099996",
    "622208": "102100099996",
    "622848": make_code("103", "1000", "0002"),
    "622845": make_code("103", "1000", "0002"),
    "621661": make_code("104", "1000", "0000"),
    "601382": make_code("104", "1000", "0000"),
    "621700": make_code("105", "1000", "0001"),
    "622700": make_code("105", "1000", "0001"),
    "622260": make_code("301", "2900", "0000"),
    "622262": make_code("301", "2900", "0000"),
    "622690": make_code("302", "1000", "0100"),
    "622660": make_code("303", "1000", "0000"),
    "622622": make_code("305", "1000", "0001"),
    "622588": "308584000013",
    "621483": "308584000013",
    "622909": make_code("309", "3910", "0001"),
    "622518": make_code("310", "2900", "0001"),
    "621799": make_code("403", "1000", "0000"),
    "622188": make_code("403", "1000", "0000"),
}


def entries() -> list[dict[str, object]]:
    """Every row of the seeded directory."""
    rows: list[dict[str, object]] = []
    for bank, _english, head, branches in _BANKS:
        rows.append(_row(head, bank, "总行", "北京" if head[3:7] == "1000" else "", True))
        for branch, city, city_code, number in branches:
            rows.append(_row(make_code(head[:3], city_code, number), bank, branch, city, False))
    rows.append(_row(OWN_BANK_CODE, OWN_BANK_NAME, "总行", "南宁", True))
    return rows


def _row(code: str, bank: str, branch: str, city: str, head_office: bool) -> dict[str, object]:
    if not valid_code(code):  # the seeded data is ours: a typo fails at once
        raise ValueError(f"bad bank code in the directory: {code}")
    return {
        "code": code,
        "bank_code": code[:3],
        "bank_name": bank,
        "branch_name": branch,
        "city": city,
        "initials": " ".join(initials_of(part) for part in (bank, branch, city) if part),
        "head_office": head_office,
    }


def seed_directory(session: Session) -> int:
    """Load the directory once (reference data, needed in production too); returns rows added."""
    present = set(session.scalars(select(BankBranch.code)))
    added = [BankBranch(**row) for row in entries() if row["code"] not in present]
    session.add_all(added)
    session.flush()
    return len(added)


def search(session: Session, *, query: str, limit: int = 20) -> list[BankBranch]:
    """By code, bank, branch or city name, or pinyin initials ("zsyh sz" -> 招商银行 深圳…);
    every word must match something."""
    words = query.lower().split()[:4]
    statement = select(BankBranch)
    for word in words:
        like = f"%{word[:40]}%"
        statement = statement.where(
            or_(
                BankBranch.code.like(like),
                BankBranch.bank_name.like(like),
                BankBranch.branch_name.like(like),
                BankBranch.city.like(like),
                func.lower(BankBranch.initials).like(like),
            )
        )
    statement = statement.order_by(BankBranch.head_office.desc(), BankBranch.code).limit(limit)
    return list(session.scalars(statement))


def find(session: Session, code: str) -> BankBranch | None:
    return session.scalars(select(BankBranch).where(BankBranch.code == code)).first()


def bank_of_card(session: Session, number: str) -> BankBranch | None:
    """The head office of the bank whose card this is, when its BIN is known."""
    code = CARD_BINS.get("".join(number.split())[:6])
    return find(session, code) if code else None
