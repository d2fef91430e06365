"""The payee book (收款人名册, issue 6 §3): a customer's saved payees, searched by name, pinyin
initials and account tail, each with a nickname and an optional per-transfer limit."""
