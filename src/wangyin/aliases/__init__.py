"""Transfer by mobile number (手机号转账, issue 6 §2): a customer registers their reserved
mobile as an alias of one of their accounts (opt-in, with a texted code); a payer types the
mobile, sees the masked name and the bank, confirms part of the name, and pays."""
