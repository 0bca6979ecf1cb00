"""Values only the database refuses still come back as problem details, never a 500."""

from __future__ import annotations

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from tests.support.sessions import login_as


def test_nul_bytes_are_client_errors(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    login = api.post(
        "/api/v1/auth/login", json={"email": "a\u0000@example.kr", "password": "x" * 8}
    )
    assert 400 <= login.status_code < 500
    assert login.headers["content-type"] == "application/problem+json"
    _, headers = login_as(db, settings)
    question = api.post(
        "/api/v1/questions",
        json={
            "title": "널 바이트가 들어간 제목\u0000입니다",
            "content": "본문은 정상이지만 제목에 NUL 문자가 들어 있는 질문입니다.",
            "region_code": "KR-49-01-02",
            "category": "other",
        },
        headers=headers,
    )
    assert question.status_code == 422
    assert question.headers["content-type"] == "application/problem+json"
