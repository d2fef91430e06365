"""Charts of the customer's money (issue 9 §5, 5.2.1-b): monthly income and spending,
spending by category (rules the customer can correct), balance over time; SVG drawn on the
server with pygal, each with a data table and a one-sentence summary."""
