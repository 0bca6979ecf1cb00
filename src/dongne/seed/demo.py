"""``dongne seed --demo``: neighbours, questions, answers, acceptances and likes.

Everything goes through the same repository functions and database triggers
as real traffic, in one transaction, so counters, hashtags and the points
ledger are exactly what the service would have produced.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from shapely.geometry import Point, Polygon

from dongne.db.router import ShardRouter
from dongne.outbox import repository as outbox
from dongne.qa import repository as qa
from dongne.seed.content import demo_questions

DEMO_EMAIL_DOMAIN = "demo.dongne.kr"
_HISTORY_DAYS = 60
_NICKNAME_STYLES = ("주민", "토박이", "이웃", "삼춘", "새내기", "여행자", "집사", "맘")
_POINT = re.compile(r"\(([-0-9.e]+),([-0-9.e]+)\)")


@dataclass(frozen=True)
class DemoReport:
    users: int
    questions: int
    answers: int
    accepted: int
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return "demo data is already present; nothing added"
        return (
            f"demo: {self.users} neighbours, {self.questions} questions, "
            f"{self.answers} answers, {self.accepted} accepted"
        )


@dataclass(frozen=True)
class _District:
    code: str
    name: str
    shapes: list[Polygon]


async def seed_demo(router: ShardRouter, *, questions: int = 300, seed: int = 49) -> DemoReport:
    rng = random.Random(seed)
    async with router.transaction() as conn:
        if await _already_seeded(conn):
            return DemoReport(0, 0, 0, 0, skipped=True)
        districts = await _districts(conn)
        now = datetime.now(UTC)
        await conn.execute(
            "SELECT ensure_question_partitions(%s::date, %s::date)",
            (now - timedelta(days=_HISTORY_DAYS + 1), now),
        )
        users = await _create_users(conn, rng, districts, count=max(20, questions // 5))
        return await _create_questions(conn, rng, districts, users, questions, now)


async def _already_seeded(conn: AsyncConnection[DictRow]) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM users WHERE email LIKE %s) AS seeded",
        (f"%@{DEMO_EMAIL_DOMAIN}",),
    )
    row = await cursor.fetchone()
    return bool(row and row["seeded"])


async def _districts(conn: AsyncConnection[DictRow]) -> list[_District]:
    cursor = await conn.execute(
        """
        SELECT r.code, r.name, array_agg(s.shape::text ORDER BY s.part) AS shapes
        FROM regions r JOIN region_shapes s ON s.region_code = r.code
        WHERE r.region_type = 'district' AND r.is_active
        GROUP BY r.code, r.name ORDER BY r.code
        """
    )
    rows = await cursor.fetchall()
    if not rows:
        raise ValueError("no districts loaded; run `dongne regions load` first")
    return [
        _District(
            row["code"],
            row["name"],
            [Polygon([(float(x), float(y)) for x, y in _POINT.findall(s)]) for s in row["shapes"]],
        )
        for row in rows
    ]


def _point_in(rng: random.Random, district: _District) -> tuple[float, float]:
    """A uniformly random point on land in the district's largest part."""
    shape = max(district.shapes, key=lambda p: p.area)
    min_x, min_y, max_x, max_y = shape.bounds
    for _ in range(200):
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if shape.contains(Point(x, y)):
            return round(x, 6), round(y, 6)
    point = shape.representative_point()
    return point.x, point.y


async def _create_users(
    conn: AsyncConnection[DictRow], rng: random.Random, districts: list[_District], count: int
) -> dict[str, list[UUID]]:
    """Neighbours per district code; about half of them verified locals."""
    by_district: dict[str, list[UUID]] = {d.code: [] for d in districts}
    for index in range(count):
        district = districts[index % len(districts)]
        nickname = f"{district.name[:-1]}{rng.choice(_NICKNAME_STYLES)}{index + 1}"
        user_id = await qa.insert_user(
            conn,
            email=f"neighbour{index + 1}@{DEMO_EMAIL_DOMAIN}",
            nickname=nickname,
            region_code=district.code,
            verification_level=rng.choices([0, 1, 2], weights=[5, 2, 3])[0],
        )
        by_district[district.code].append(user_id)
    return by_district


async def _create_questions(
    conn: AsyncConnection[DictRow],
    rng: random.Random,
    districts: list[_District],
    users: dict[str, list[UUID]],
    count: int,
    now: datetime,
) -> DemoReport:
    by_name = {d.name: d for d in districts}
    everyone = [u for group in users.values() for u in group]
    answers = accepted = 0
    for item in demo_questions(rng, list(by_name), count):
        district = by_name[item.district_name]
        asker = rng.choice(users[district.code] or everyone)
        asked_at = now - timedelta(minutes=rng.randint(30, _HISTORY_DAYS * 24 * 60))
        with_point = rng.random() < 0.6
        row = await qa.insert_question(
            conn,
            qa.NewQuestion(
                user_id=asker,
                title=item.title,
                content=item.content,
                hashtags=list(item.hashtags),
                category=item.category,
                region_code=None if with_point else district.code,
                urgency=item.urgency,
                location=_point_in(rng, district) if with_point else None,
                created_at=asked_at,
            ),
        )
        # What the ask use case emits: without it a question nobody answers
        # would never reach the search index (answers re-sync their question).
        created = {"user_id": str(asker), "region_code": row["region_code"]}
        await outbox.enqueue(conn, "question.created", "question", row["id"], created)
        answer_ids = []
        helpers = [u for u in users[row["region_code"]] + everyone if u != asker]
        for answer in item.answers:
            answered_at = min(now, asked_at + timedelta(minutes=rng.randint(3, 2 * 24 * 60)))
            answer_ids.append(
                await qa.insert_answer(
                    conn,
                    question_id=row["id"],
                    user_id=rng.choice(helpers[:8] if rng.random() < 0.6 else helpers),
                    content=answer.content,
                    created_at=answered_at,
                )
            )
        answers += len(answer_ids)
        if answer_ids and rng.random() < 0.45:
            accepted += await qa.accept_answer(conn, rng.choice(answer_ids))
        for liker in rng.sample(everyone, k=min(len(everyone), rng.randint(0, 12))):
            if liker != asker:
                await qa.like_question(conn, row["id"], liker)
        await conn.execute(
            "UPDATE questions SET view_count = %s WHERE id = %s",
            (rng.randint(5, 400), row["id"]),
        )
    return DemoReport(len(everyone), count, answers, accepted)
