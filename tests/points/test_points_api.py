"""The points ledger over HTTP: paging, spending on highlights, concurrent awards."""

from __future__ import annotations

import contextlib
import threading

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.points.service import HIGHLIGHT_COST
from tests.support.sessions import login_as

QUESTION = {
    "title": "성산일출봉 일출 보려면 몇 시에 가야 해요?",
    "content": "다음 주에 성산일출봉 일출 보려고 하는데 주차랑 입장 시간 궁금해요.",
    "region_code": "KR-49-02-05",
    "category": "travel",
}


def _award(db: psycopg.Connection[DictRow], user: object, amount: int, key: str) -> None:
    db.execute(
        "SELECT award_points(%s, %s, 'admin_adjustment', 'test', NULL, NULL, %s)",
        (user, amount, key),
    )


def test_ledger_pages_newest_first(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    for n in range(7):
        _award(db, user, n + 1, f"ledger-test:{user}:{n}")
    first = api.get("/api/v1/me/points", params={"limit": 4}, headers=headers).json()
    assert first["balance"] == 28
    assert [i["amount"] for i in first["items"]] == [7, 6, 5, 4]
    assert first["items"][0]["balance_after"] == 28
    second = api.get("/api/v1/me/points", params={"limit": 4, "cursor": first["next_cursor"]},
                     headers=headers).json()  # fmt: skip
    assert [i["amount"] for i in second["items"]] == [3, 2, 1]
    assert second["next_cursor"] is None
    assert api.get("/api/v1/me/points").status_code == 401


def test_highlight_spends_points_and_refuses_without_them(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    _, stranger = login_as(db, settings)
    question = api.post("/api/v1/questions", json=QUESTION, headers=headers).json()
    path = f"/api/v1/questions/{question['id']}/highlight"
    balance = 20  # first-question award
    poor = api.post(path, headers=headers)
    assert poor.status_code == 409
    assert poor.json()["type"].endswith("insufficient-points")
    _award(db, user, 100, f"highlight-test:{user}")
    assert api.post(path, headers=stranger).status_code == 403
    spent = api.post(path, headers=headers)
    assert spent.status_code == 200
    assert spent.json()["balance"] == balance + 100 - HIGHLIGHT_COST
    assert api.get(f"/api/v1/questions/{question['id']}").json()["highlighted"] is True
    ledger = api.get("/api/v1/me/points", headers=headers).json()["items"]
    assert ledger[0]["transaction_type"] == "spend_highlight"
    assert ledger[0]["amount"] == -HIGHLIGHT_COST


def test_two_hundred_concurrent_awards_keep_the_ledger_invariant(
    database_url: str, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, _ = login_as(db, settings)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def award(worker: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait()
                for n in range(10):
                    amount = -3 if n % 3 == 2 else 5
                    # A spend that would go negative is refused, not lost.
                    with contextlib.suppress(psycopg.errors.CheckViolation):
                        conn.execute(
                            "SELECT award_points(%s, %s, 'admin_adjustment', 'load', NULL, NULL, "
                            "%s)",
                            (user, amount, f"load:{worker}:{n}"),
                        )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=award, args=(w,)) for w in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    row = db.execute(
        "SELECT u.point_balance, sum(t.amount) AS total, count(*) AS rows, "
        "count(DISTINCT t.idempotency_key) AS keys, min(t.balance_after) AS lowest "
        "FROM users u JOIN point_transactions t ON t.user_id = u.id WHERE u.id = %s "
        "GROUP BY u.point_balance",
        (user,),
    ).fetchone()
    assert row is not None
    assert row["point_balance"] == row["total"]
    assert row["rows"] == row["keys"]
    assert row["lowest"] >= 0
    assert row["rows"] >= 140  # every +5 award landed; only refused spends are missing
