"""Property-based API testing: schemathesis generates requests from our own
OpenAPI schema, sends them as a real logged-in user to the real server, and no
request may cause a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg.rows import DictRow
from schemathesis.core.result import Ok

from dongne.config import Settings
from tests.support.sessions import login_as

EXAMPLES_PER_OPERATION = 30


def test_no_generated_request_causes_a_server_error(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, headers = login_as(db, settings)
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    failures: list[str] = []
    statuses: list[int] = []
    checked = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid operation in our own schema: {result}"
        operation = result.ok()
        checked += 1

        @given(case=operation.as_strategy(), authenticated=st.booleans())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case[Any], authenticated: bool) -> None:
            response = case.call(headers=headers if authenticated else {}, timeout=30)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        call()
    assert checked >= 20
    assert failures == []
    # The generator reached real handlers, not only validation and auth errors.
    assert len(statuses) >= checked * 10
    assert sum(200 <= s < 300 for s in statuses) >= checked
