"""Scheduled (预约转账) and recurring (定期转账) transfers: standing instructions the
customer confirms once, executed by the worker (issue 6 §4)."""
