"""The realtime WebSocket against two real API processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import DictRow
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.realtime.conftest import GUARD_S, Api, Client, presence_and_typing_walk, session
from tests.support.accounts import auth, signup

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUESTION = {
    "title": "애월 바다 보이는 카페 추천해 주세요",
    "content": "주말에 부모님 모시고 갈 바다 전망 카페를 찾고 있어요. 주차되면 좋아요.",
    "region_code": "KR-49-01-02",
    "category": "food",
}


def _ask(api: Api, token: str) -> str:
    response = api.http.post("/api/v1/questions", json=QUESTION, headers=auth(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _answer(api: Api, question_id: str, token: str) -> str:
    response = api.http.post(
        f"/api/v1/questions/{question_id}/answers",
        json={"content": "한담 해안 쪽 카페들이 바다 바로 앞이고 주차장도 넓어요."},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _closed_with(client: Client) -> tuple[int, str]:
    """The close code and reason the server ended this connection with."""
    with pytest.raises(ConnectionClosed) as closed:
        await client.expect("never")
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_two_clients_on_two_processes_see_each_others_presence_and_typing(
    two_apis: tuple[Api, Api],
) -> None:
    a_api, b_api = two_apis
    a_id, a_token = signup(a_api.http, region_code="KR-49-01-02")
    b_id, b_token = signup(b_api.http, region_code="KR-49-01-02")
    question = _ask(a_api, a_token)
    await presence_and_typing_walk(a_api, (a_id, a_token), b_api, (b_id, b_token), question)


async def test_asker_hears_of_the_answer_and_answerer_of_the_acceptance(
    two_apis: tuple[Api, Api],
) -> None:
    a_api, b_api = two_apis
    _, asker_token = signup(a_api.http)
    answerer_id, answerer_token = signup(b_api.http)
    question = _ask(a_api, asker_token)
    async with session(a_api, asker_token) as asker, session(b_api, answerer_token) as answerer:
        answer = _answer(b_api, question, answerer_token)
        pushed = await asker.expect("answer.created", answer_id=answer)
        assert pushed == {"type": "answer.created", "question_id": question,
                          "answer_id": answer, "answerer_id": str(answerer_id)}  # fmt: skip
        told = await asker.expect("notification")
        assert told["notification"]["type"] == "answer_received"
        assert told["notification"]["data"]["answer_id"] == answer

        accepted = a_api.http.post(f"/api/v1/answers/{answer}/accept", headers=auth(asker_token))
        assert accepted.status_code == 200, accepted.text
        push = await answerer.expect("answer.accepted", answer_id=answer)
        assert push["question_id"] == question
        assert push["points"] == 150
        notification = await answerer.expect("notification")
        assert notification["notification"]["type"] == "answer_accepted"


def _wait_for_notification(
    db: psycopg.Connection[DictRow], user_id: UUID, after: str
) -> dict[str, Any]:
    """The user's first notification newer than ``after``, once the worker wrote it."""
    deadline = time.monotonic() + GUARD_S
    while True:
        row = db.execute(
            "SELECT id, type::text AS type FROM notifications WHERE user_id = %s AND id > %s"
            " ORDER BY id LIMIT 1",
            (user_id, after),
        ).fetchone()
        if row is not None:
            return dict(row)
        assert time.monotonic() < deadline, "the worker never wrote the notification"
        time.sleep(0.05)


async def test_a_reconnecting_client_gets_what_it_missed_first(
    two_apis: tuple[Api, Api], db: psycopg.Connection[DictRow]
) -> None:
    a_api, b_api = two_apis
    asker_id, asker_token = signup(a_api.http)
    _, first_token = signup(b_api.http)
    _, second_token = signup(b_api.http)
    question = _ask(a_api, asker_token)
    async with session(a_api, asker_token) as asker:
        _answer(b_api, question, first_token)
        seen = (await asker.expect("notification"))["notification"]["id"]
    # Disconnected: a second answer arrives and its notification is committed.
    _answer(b_api, question, second_token)
    missed = _wait_for_notification(db, asker_id, seen)

    async with session(b_api, asker_token, last_notification_id=seen) as back:
        assert back.ready["replayed"] == 1
        assert back.ready["more"] is False
        replayed = [m for m in back.seen if m["type"] == "notification"]
        assert [m["notification"]["id"] for m in replayed] == [str(missed["id"])]
        assert replayed[0]["replay"] is True
        assert back.seen[-1]["type"] == "ready"  # replay first, then the stream


async def test_unauthenticated_sockets_are_refused(two_apis: tuple[Api, Api]) -> None:
    api, _ = two_apis
    for first in ({"type": "hello", "token": "not-a-session"}, {"type": "ping"}):
        async with connect(api.ws_url) as ws:
            client = Client(ws)
            await client.send(**first)
            code, reason = await _closed_with(client)
            assert code == 4401
            assert reason


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("x" * 5000, 1009),
        (b"\x00\x01binary", 1003),
        ("{not json", 4400),
        ('{"type": "teleport"}', 4400),
        ('{"type": "typing.start", "question_id": "nope"}', 4400),
    ],
)
async def test_a_bad_frame_closes_only_its_own_socket(
    two_apis: tuple[Api, Api], frame: str | bytes, code: int
) -> None:
    api, _ = two_apis
    _, token = signup(api.http)
    async with session(api, token) as bystander, session(api, token) as offender:
        await offender.ws.send(frame)
        closed_code, reason = await _closed_with(offender)
        assert closed_code == code
        assert reason
        await bystander.send(type="ping")
        await bystander.expect("pong")
