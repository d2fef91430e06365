"""HTML pages of batch transfers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
