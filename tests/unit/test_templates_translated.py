"""Every text a page shows exists in Chinese (the default language)."""

from __future__ import annotations

import re
from pathlib import Path

from wangyin.i18n import catalog
from wangyin.identity.security_pages import EVENT_LABELS, OUTCOME_LABELS
from wangyin.identity.validators import check_pin_policy

TEMPLATES = Path(__file__).parents[2] / "src" / "wangyin" / "web" / "templates"
MSGID = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def test_every_template_text_has_a_chinese_translation() -> None:
    zh = catalog("zh")
    missing = set()
    for path in TEMPLATES.rglob("*.html"):
        for match in MSGID.finditer(path.read_text()):
            text = match.group(1) or match.group(2)
            if text not in zh:
                missing.add(f"{path.name}: {text}")
    assert not missing, sorted(missing)


def test_operation_log_labels_are_translated() -> None:
    zh = catalog("zh")
    labels = [*EVENT_LABELS.values(), *OUTCOME_LABELS.values()]
    assert [label for label in labels if label not in zh] == []


def test_pin_policy_reasons_are_translated() -> None:
    zh = catalog("zh")
    for pin in ("12345", "111111", "123456"):
        try:
            check_pin_policy(pin)
        except Exception as exc:  # DomainError
            assert getattr(exc, "params", {})["reason"] in zh
        else:
            raise AssertionError(f"{pin} should be refused")
