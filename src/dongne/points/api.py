"""HTTP routes of the points area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
