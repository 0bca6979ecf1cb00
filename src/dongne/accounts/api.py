"""HTTP routes of the accounts area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
