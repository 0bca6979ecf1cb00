"""HTTP routes of the qa area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
