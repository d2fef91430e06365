"""HTML pages of scheduled transfers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
