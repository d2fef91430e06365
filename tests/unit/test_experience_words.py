"""Issue 9 §1: what the customer reads about devices, places and their operation log is
plain words in their language - never codes, reason lists or ids."""

from __future__ import annotations

from wangyin.identity import devices
from wangyin.identity.security_pages import describe_event
from wangyin.web.render import _grouped

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_devices_are_named_by_browser_and_system() -> None:
    web = devices.describe(WINDOWS_CHROME, client_type="web", os_version="", lang="en")
    assert (web.name, web.channel) == ("Chrome on Windows", "web")
    assert devices.describe(WINDOWS_CHROME, client_type="web", os_version="", lang="zh").name == (
        "Windows 上的 Chrome"
    )
    assert devices.describe(IPHONE, client_type="web", os_version="", lang="en").name == (
        "Mobile Safari on iOS"
    )
    app = devices.describe("okhttp/4.12", client_type="api", os_version="Android 14", lang="en")
    assert (app.name, app.channel) == ("Android 14", "app")
    assert devices.describe("", client_type="api", os_version="", lang="zh").name == "未知设备"


def test_the_label_a_device_was_bound_with_splits_back() -> None:
    assert devices.split_label(f"web | Windows NT 10.0 | {WINDOWS_CHROME}") == (
        "web",
        "Windows NT 10.0",
        WINDOWS_CHROME,
    )
    assert devices.split_label("") == ("", "", "")


def test_place_from_the_ip_where_known() -> None:
    assert devices.place_of("114.114.114.114", "zh") == "中国"
    assert devices.place_of("114.114.114.114", "en") == "China"
    for unknown in ("127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3", "", "not an ip"):
        assert devices.place_of(unknown, "zh") is None


def test_operation_log_in_plain_words() -> None:
    refused = {
        "transfer": "0192f0a4-1111-7000-8000-000000000001",
        "to": "6217 **** **** 1234",
        "amount": "88.80",
        "currency": "CNY",
        "reason": "insufficient_funds",
        "step": "prepare",
    }
    zh = describe_event("transfer_refused", refused, "zh")
    assert zh.startswith("向尾号 1234 的账户转账 88.80")
    assert "余额" in zh
    en = describe_event("transfer_refused", refused, "en")
    assert en == (
        "88.80 CNY to the account ending 1234; "
        "The available balance is not enough for this transfer."
    )
    for text in (zh, en):
        assert "insufficient_funds" not in text and "0192f0a4" not in text and "step" not in text
    challenged = describe_event("login", {"reasons": ["new_device", "night"]}, "zh")
    assert challenged == "因在未使用过的设备上登录、夜间（00:00–06:00）登录，需要验证码。"
    assert describe_event("code_issued", {"purpose": "transfer", "channel": "sms"}, "en") == (
        "to confirm a transfer (by SMS)"
    )
    limits = describe_event("limits_changed", {"single_minor": 5_000_000, "daily_minor": 0}, "zh")
    assert limits == "单笔 50,000.00 元，每日 0.00 元"
    assert describe_event("frozen", {"scope": "all"}, "en") == "All online banking"


def test_limits_are_grouped() -> None:
    assert _grouped("5000000.00") == "5,000,000.00"
    assert _grouped("0.00") == "0.00"
    assert _grouped("-1234.5") == "-1,234.5"
    assert _grouped("n/a") == "n/a"
