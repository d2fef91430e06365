"""Batch transfers (批量转账): many payees in one file, one confirmation (issue 6 §5)."""
