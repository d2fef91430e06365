"""The FAQ as data (5.2.1-d): every question in Chinese and English, grouped by topic.

The answers describe what this bank's code actually does (limits, code lifetimes, lock-outs
come from `wangyin.config.Settings` defaults); a test keeps the figures in step. The
function search (experience/catalogue.py) indexes these questions too, so a customer who
types `yzm` in the box on any page finds 收不到验证码怎么办？. This module imports nothing of
the app, so the catalogue can read it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    key: str
    zh: str
    en: str

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Question:
    key: str  # the page anchor (/help#key) and the API's stable key
    topic: str
    zh: str
    en: str
    answer_zh: str
    answer_en: str
    keywords: tuple[str, ...] = ()

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def answer(self, lang: str) -> str:
        return self.answer_zh if lang == "zh" else self.answer_en


TOPICS: tuple[Topic, ...] = (
    Topic("login", "登录与密码", "Logging in and passwords"),
    Topic("transfers", "转账与限额", "Transfers and limits"),
    Topic("sms", "短信验证码", "SMS codes"),
    Topic("usbkey", "U盾与数字证书", "USB Key and certificates"),
    Topic("cards", "银行卡", "Cards"),
    Topic("fees", "费用", "Fees"),
    Topic("security", "安全与防诈骗", "Security and fraud"),
    Topic("care", "关爱版", "Care mode"),
)

QUESTIONS: tuple[Question, ...] = (
    # --- logging in and passwords -----------------------------------------------------
    Question(
        "faq_forgot",
        "login",
        "忘记登录密码怎么办？",
        "I forgot my login password",
        "在登录页点“忘记密码”，输入本人身份证号和本行借记卡号，再输入发送到预留手机号的"
        "验证码，即可设置新密码。新密码不能与最近 5 次使用过的密码相同。",
        "On the login page choose “Forgot your password?”, enter your ID number and your "
        "debit card number, then the code texted to your registered mobile, and set a new "
        "password. It may not be one of your last 5 passwords.",
        ("忘记密码", "找回密码", "重置", "forgot password", "reset"),
    ),
    Question(
        "faq_locked",
        "login",
        "登录被锁定了怎么办？",
        "My login is locked",
        "连续 5 次输错登录密码，登录会锁定 30 分钟，我们会短信通知您的预留手机号。"
        "请等锁定结束后再试，或用“忘记密码”重设密码。如果不是您本人在尝试登录，"
        "请立即拨打客服电话 95588。",
        "After 5 wrong passwords in a row, login is locked for 30 minutes and we text your "
        "registered mobile. Wait until the lock ends, or set a new password with “Forgot "
        "your password?”. If it was not you trying to log in, call 95588 at once.",
        ("锁定", "输错", "locked", "wrong password"),
    ),
    Question(
        "faq_password_rules",
        "login",
        "登录密码有什么要求？",
        "What makes a valid login password?",
        "8 到 64 位，须同时包含字母和数字或符号；不能是常见密码，不能包含您的登录名、"
        "手机号、身份证号或生日。请不要使用在其他网站用过的密码。",
        "8 to 64 characters, mixing letters with digits or symbols; not a commonly used "
        "password, and not containing your login name, mobile number, ID number or "
        "birthday. Do not reuse a password from another site.",
        ("密码要求", "密码规则", "password rules", "weak password"),
    ),
    Question(
        "faq_new_device",
        "login",
        "为什么换了电脑或手机登录要验证？",
        "Why am I asked to verify on a new device?",
        "在未绑定的设备上登录时，我们会向预留手机号发送验证码并核对您的身份证号，"
        "确认是您本人后才完成登录。这样即使密码泄露，他人也难以登录。已绑定的设备可在"
        "安全中心的“已绑定设备”中查看和解除绑定。",
        "On a device that is not bound to you we text a code to your registered mobile and "
        "check your ID number before you are let in, so a leaked password alone is not "
        "enough. See and remove your bound devices in the Security center.",
        ("新设备", "设备绑定", "换手机", "new device", "device"),
    ),
    Question(
        "faq_timeout",
        "login",
        "为什么过一会儿就自动退出了？",
        "Why was I logged out?",
        "为了您的资金安全，5 分钟没有操作会自动退出，结束前 60 秒页面会提醒，"
        "点“继续使用”即可继续。每次登录最长 8 小时。",
        "For your safety you are logged out after 5 minutes without activity; 60 seconds "
        "before, the page warns you and “Stay logged in” keeps you in. A login lasts at "
        "most 8 hours.",
        ("自动退出", "超时", "掉线", "timeout", "logged out"),
    ),
    # --- transfers and limits ---------------------------------------------------------
    Question(
        "faq_limits",
        "transfers",
        "转账限额是多少？",
        "What are my transfer limits?",
        "新开通的网银默认单笔 5 万元、每日 10 万元。您可以在安全中心随时调低；调高需要"
        "短信验证码，最高为银行规定的上限。超过限额的转账会被拒绝，不会扣款。",
        "New online banking starts at 50,000 CNY a transfer and 100,000 CNY a day. Lower "
        "them in the Security center at any time; raising them needs an SMS code and stays "
        "within the bank's maximum. A transfer above them is refused and nothing is taken.",
        ("限额", "额度", "调整限额", "limit", "limits"),
    ),
    Question(
        "faq_arrival",
        "transfers",
        "转账多久到账？",
        "How long does a transfer take?",
        "本行账户之间实时到账。跨行转账一般通过网上支付跨行清算系统实时到账；"
        "大额或对方银行不支持实时到账时，可能在对方银行的工作时间内入账。"
        "转账结果页和电子回单会显示处理状态。",
        "Between accounts at this bank the money arrives at once. Transfers to other banks "
        "usually arrive in real time; large amounts, or banks that do not take real-time "
        "payments, may be credited in that bank's working hours. The result page and the "
        "e-receipt show the status.",
        ("到账时间", "多久到账", "跨行", "arrive", "how long"),
    ),
    Question(
        "faq_refused",
        "transfers",
        "转账失败了，钱扣了吗？",
        "My transfer failed: was money taken?",
        "转账失败时不会扣款。页面会说明原因，例如余额不足、超过限额或验证码错误。"
        "如果提示“结果未知”，请不要重复转账，稍后在账户明细中查看；"
        "同一笔转账重复提交也只会付款一次。",
        "A failed transfer takes nothing; the page says why (not enough money, over a limit, "
        "a wrong code). If it says the outcome is unknown, do not pay again: check the "
        "account history a little later. The same transfer sent twice is paid only once.",
        ("失败", "扣款", "退回", "failed", "refused"),
    ),
    Question(
        "faq_certificate_limit",
        "transfers",
        "为什么向他人转账超过 5 万元被拒绝？",
        "Why is a transfer to someone else above 50,000 refused?",
        "按照人民银行规定，没有数字证书或电子签名的网银，每天向他人账户转账累计不超过"
        "5 万元（转入本人账户不受此限）。需要更高额度，请带身份证到柜台办理 U 盾。",
        "By the central bank's rules, online banking without a digital certificate or "
        "electronic signature may send at most 50,000 CNY a day to other people's accounts "
        "(your own accounts excepted). For more, get a USB Key at a branch with your ID.",
        ("5万", "证书", "超过", "certificate"),
    ),
    Question(
        "faq_new_payee_warning",
        "transfers",
        "为什么确认页提示“首次向该收款人转账”？",
        "Why does the confirm page warn about a new payee?",
        "首次向某个收款人转账超过 1 万元，或当日转账累计超过 30 万元时，确认页会提醒您"
        "核实收款人。请确认是您认识的人，勾选后才能继续；如对方自称公检法或客服，"
        "请立即停止。",
        "A first payment above 10,000 CNY to a payee, or a day's transfers above 300,000 CNY, "
        "brings a reminder on the confirm page to check who you are paying; you tick a box "
        "to go on. If the payee says they are police or bank staff, stop at once.",
        ("首次", "新收款人", "提醒", "new payee", "warning"),
    ),
    Question(
        "faq_password_free",
        "transfers",
        "小额免密是什么？",
        "What is password-free for small amounts?",
        "在安全中心开通并设定额度后（单笔最高 1,000 元、当日累计最高 5,000 元），额度内的"
        "转账无需输入交易密码和短信验证码。请按需设定较低的额度，可以随时关闭。",
        "Switch it on in the Security center and set its amounts (at most 1,000 CNY a "
        "transfer and 5,000 CNY a day): transfers within them need neither the transaction "
        "password nor an SMS code. Keep the amounts low; switch it off at any time.",
        ("免密", "小额", "password-free"),
    ),
    Question(
        "faq_account_class",
        "transfers",
        "二类、三类账户能转多少？",
        "How much can a class II or III account send?",
        "二类账户与非绑定账户之间每日累计 1 万元、每年 20 万元；三类账户每日 2,000 元、"
        "每年 5 万元，余额不超过 2,000 元。与绑定的一类账户之间转账不受限制。",
        "A class II account may send and receive 10,000 CNY a day and 200,000 a year with "
        "accounts other than its bound one; class III 2,000 a day and 50,000 a year, with a "
        "balance of at most 2,000. Transfers with the bound class I account are not limited.",
        ("二类", "三类", "账户类别", "class ii", "class iii"),
    ),
    # --- SMS codes --------------------------------------------------------------------
    Question(
        "faq_code",
        "sms",
        "收不到验证码怎么办？",
        "I did not get the SMS code",
        "验证码 60 秒内有效，过期后可点“重新发送”。请确认手机信号正常、短信未被拦截；"
        "每天最多发送 10 次。预留手机号已停用的，请带身份证到柜台更换。",
        "A code lasts 60 seconds; after that use Resend. Check your signal and that texts "
        "are not blocked; at most 10 codes are sent a day. If your registered number no "
        "longer works, change it at a branch with your ID.",
        ("验证码", "短信", "收不到", "sms", "code"),
    ),
    Question(
        "faq_code_wrong",
        "sms",
        "验证码输错了会怎样？",
        "What happens if I type a wrong code?",
        "每个验证码最多可以输错 3 次，之后作废，需要重新获取。转账验证码只对该笔转账的"
        "收款人和金额有效，修改金额或收款人后需要新的验证码。",
        "Each code may be typed wrong 3 times, then it is void and you ask for a new one. "
        "A transfer's code is bound to that payee and amount: change either and you need "
        "a new code.",
        ("输错", "作废", "wrong code"),
    ),
    Question(
        "faq_code_share",
        "sms",
        "有人向我要验证码，可以给吗？",
        "Someone asks me for my code: may I give it?",
        "不可以。验证码只用于您本人当时正在进行的操作，银行工作人员绝不会向您索要。"
        "任何人索要验证码都是诈骗，请挂断并拨打 95588。",
        "No. A code is only for what you yourself are doing at that moment; bank staff never "
        "ask for it. Anyone who asks is a fraudster: hang up and call 95588.",
        ("索要", "诈骗", "share code"),
    ),
    # --- USB Key and certificates ------------------------------------------------------
    Question(
        "faq_usbkey_what",
        "usbkey",
        "什么是 U 盾（数字证书）？",
        "What is a USB Key (digital certificate)?",
        "U 盾是存放您数字证书的硬件，转账时用它签名，证明是您本人确认的。"
        "需要向他人账户单日转账超过 5 万元时须使用 U 盾，请带身份证到柜台申领。",
        "A USB Key holds your digital certificate; a transfer signed with it shows that you "
        "yourself confirmed it. You need one to send more than 50,000 CNY a day to other "
        "people; get it at a branch with your ID.",
        ("u盾", "数字证书", "usb key", "ukey"),
    ),
    Question(
        "faq_usbkey_lost",
        "usbkey",
        "U 盾丢了怎么办？",
        "I lost my USB Key",
        "请立即拨打 95588 或在安全中心冻结网银，再带身份证到柜台注销旧证书、领取新 U 盾。"
        "仅有 U 盾而没有您的密码，他人无法完成转账。",
        "Call 95588 or freeze online banking in the Security center at once, then revoke the "
        "old certificate and get a new key at a branch with your ID. The key alone, without "
        "your passwords, cannot make a transfer.",
        ("u盾丢失", "证书挂失", "lost usb key"),
    ),
    Question(
        "faq_usbkey_expiry",
        "usbkey",
        "数字证书过期了怎么办？",
        "My certificate has expired",
        "数字证书有有效期，过期后请带身份证和 U 盾到柜台更新；更新前，向他人转账按无证书的"
        "每日 5 万元累计额度办理。",
        "A certificate is valid for a set time. Once it expires, renew it at a branch with "
        "your ID and the key; until then, transfers to other people follow the 50,000 CNY a "
        "day allowed without one.",
        ("过期", "更新证书", "certificate expired"),
    ),
    # --- cards ------------------------------------------------------------------------
    Question(
        "faq_register",
        "cards",
        "怎样开通网上银行？",
        "How do I register for online banking?",
        "在登录页点“用借记卡自助注册”，输入本行借记卡号、身份证号和预留手机号，"
        "输入短信验证码后设置登录名和密码。网上开通的是查询版；需要转账，请到柜台开通专业版。",
        "On the login page choose to register with your debit card: enter the card number, "
        "your ID number and registered mobile, the texted code, then choose a login name and "
        "password. Registering online gives the query-only edition; for transfers, open the "
        "professional edition at a branch.",
        ("开通", "注册", "网银开通", "register", "sign up"),
    ),
    Question(
        "faq_lost",
        "cards",
        "银行卡或手机丢了怎么办？",
        "I lost my card or my phone",
        "请立即在安全中心冻结网银（全部冻结），或拨打客服电话 95588 挂失。"
        "冻结后任何人都无法用网银查询和转账；之后可用发送到预留手机号的验证码，加上交易密码"
        "或身份证号解冻。",
        "Freeze online banking in the Security center at once (Freeze all), or call 95588 to "
        "report the loss. While frozen nobody can see your accounts or transfer online; "
        "unfreeze later with a code texted to your registered mobile and your transaction "
        "password or ID number.",
        ("丢失", "挂失", "冻结", "lost card", "lost phone"),
    ),
    Question(
        "faq_mobile_change",
        "cards",
        "预留手机号换了怎么办？",
        "I changed my mobile number",
        "验证码只发送到预留手机号。换号后请带身份证和银行卡到柜台更新预留手机号，"
        "更新前无法接收网银验证码。",
        "Codes go only to your registered mobile. After changing number, update it at a "
        "branch with your ID and card; until then no online banking codes reach you.",
        ("换号", "手机号变更", "预留手机", "new number"),
    ),
    # --- fees -------------------------------------------------------------------------
    Question(
        "faq_fees",
        "fees",
        "网银转账收手续费吗？",
        "Does a transfer cost a fee?",
        "目前通过本行网银办理人民币转账（含跨行转账）不收取手续费。如收费标准调整，"
        "我们会提前公告，并在您确认前在确认页列明费用。",
        "Transfers in CNY through our online banking, to other banks too, are free at "
        "present. Should that change, we announce it in advance and the confirm page shows "
        "any fee before you confirm.",
        ("手续费", "收费", "费用", "fee", "charge"),
    ),
    Question(
        "faq_fees_annual",
        "fees",
        "网上银行有年费吗？",
        "Is there a yearly fee for online banking?",
        "开通和使用网上银行不收年费，短信验证码也不收费。",
        "Online banking has no yearly fee, and the SMS codes are free.",
        ("年费", "短信费", "yearly fee"),
    ),
    # --- security and fraud ------------------------------------------------------------
    Question(
        "faq_fraud_calls",
        "security",
        "接到自称银行或公安的电话要求转账怎么办？",
        "A caller says they are the bank or police and asks me to pay",
        "立即挂断。银行和公检法不会通过电话要求您转账到“安全账户”，也不会索要密码或验证码。"
        "请自己拨打 95588 或 110 核实；已经转账的，请马上报警并联系我们。",
        "Hang up. Neither the bank nor the police ever ask you by phone to move money to a "
        "“safe account”, or for a password or code. Call 95588 or 110 yourself to check; if "
        "you already paid, report it to the police and call us at once.",
        ("诈骗", "电信诈骗", "安全账户", "fraud", "scam"),
    ),
    Question(
        "faq_phishing",
        "security",
        "怎样识别假冒的网银网站？",
        "How do I spot a fake banking site?",
        "请自己输入网银地址，不要点短信、邮件或聊天中的链接。登录前看清地址栏中的网址"
        "和安全锁标志；页面要求输入银行卡密码、完整卡号加验证码的，都可能是钓鱼网站。",
        "Type the address yourself; do not open links from texts, emails or chats. Check "
        "the address bar and padlock before logging in; a page asking for your card PIN, or "
        "the whole card number with a code, is likely phishing.",
        ("钓鱼", "假网站", "phishing", "fake site"),
    ),
    Question(
        "faq_freeze",
        "security",
        "发现可疑交易怎么办？",
        "I see a payment I do not recognise",
        "立即在安全中心点“全部冻结”（需再次确认），然后拨打 95588。操作日志中可以查看"
        "每次登录和操作的时间、地点和设备。",
        "Use Freeze all in the Security center at once (you confirm it once more), then call "
        "95588. The operation log shows when, where and from which device each login and "
        "action happened.",
        ("可疑", "盗刷", "冻结", "suspicious", "unknown payment"),
    ),
    Question(
        "faq_public_wifi",
        "security",
        "可以在公共电脑或公共 Wi-Fi 上用网银吗？",
        "May I bank on a shared computer or public Wi-Fi?",
        "尽量不要。必须使用时，请用浏览器的隐私模式，完成后点“退出”并关闭浏览器，"
        "不要让浏览器记住密码。",
        "Better not. If you must, use a private window, log out when done and close the "
        "browser, and never let it remember your password.",
        ("公共电脑", "wifi", "网吧", "public computer"),
    ),
    # --- care mode --------------------------------------------------------------------
    Question(
        "faq_care_on",
        "care",
        "关爱版怎么打开？",
        "How do I turn on care mode?",
        "在登录页、首页或“我的账户”页点“关爱版”开关即可，随时可以切换回标准版。"
        "登录后的选择会记住。关爱版字更大、按钮更大，只保留查余额、看明细、转账和联系银行等"
        "主要功能。",
        "Use the care mode switch on the login page, the home page or My accounts; switch "
        "back at any time. Once logged in, your choice is remembered. Care mode has larger "
        "text and buttons and keeps the main tasks: balance, history, transfer and calling "
        "the bank.",
        ("大字", "老年", "长辈", "适老", "large text", "elderly"),
    ),
    Question(
        "faq_care_help",
        "care",
        "操作不会用，可以找人帮忙吗？",
        "I need help using online banking",
        "可以拨打客服电话 95588，或到任一网点请工作人员指导。请不要把密码、验证码告诉"
        "任何人，包括帮您操作的亲友和银行工作人员。",
        "Call 95588, or ask the staff at any branch to show you. Never tell anyone your "
        "password or code, not even relatives helping you or bank staff.",
        ("帮助", "客服", "不会用", "help", "call"),
    ),
    Question(
        "faq_demo",
        "login",
        "没有开通网银，可以先试用吗？",
        "Can I try online banking before registering?",
        "可以。在登录页点“先体验一下”，进入演示模式，用示例数据浏览账户、明细，"
        "并试走一遍转账流程。演示不会登录任何真实账户，也绝不会转出资金。",
        "Yes. Choose “Try it” on the login page for the demo: sample accounts and history, "
        "and a transfer you can walk through to the confirm page. The demo signs in to no "
        "real account and never moves money.",
        ("演示", "体验", "试用", "demo", "try it"),
    ),
)

BY_KEY = {question.key: question for question in QUESTIONS}
TOPIC_KEYS = tuple(topic.key for topic in TOPICS)
