"""The customer's home page (issue 9 §2): total assets in CNY, recent transactions, this
month's income and spending, "transfer again" suggestions and security tips."""
