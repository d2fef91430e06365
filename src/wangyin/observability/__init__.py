"""Observability (issue 8 §1, §5): metrics, structured logs, the audit copy, log retention."""
