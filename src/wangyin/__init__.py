"""Wangyin (网银): internet banking for a city commercial bank."""

__version__ = "0.1.0"
