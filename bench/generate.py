"""Fill a bench database fast with a realistic Jeju workload, with COPY.

* Districts are drawn by population (approximate resident counts, rounded).
* Titles/contents come from ``dongne.seed.content`` (templates × district
  vocabulary); hashtags from the templates plus a Zipf long tail.
* Points are sampled inside the district's own polygon (shapely, rejection).
* Ids are UUIDv7 built for back-dated times spread over the last months, so
  rows land in their month partitions exactly as live rows do.

Per-row triggers are switched off for the load (``session_replication_role =
replica`` in the loading session only), and what they maintain is computed
set-based afterwards: answer/like counters, user counters, hashtag usage and
question↔hashtag links. This is ~20× faster than row triggers at 1 M rows;
the live path keeps the triggers (see ``bench/micro.py`` for their cost).
"""

from __future__ import annotations

import math
import os
import random
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from shapely.geometry import Point, Polygon
from shapely.prepared import prep

from dongne.seed.content import demo_questions

SCALES: dict[str, dict[str, int]] = {
    "toy": {"users": 200, "questions": 1_000, "answers": 2_500, "likes": 1_500, "months": 2},
    "small": {
        "users": 2_000,
        "questions": 50_000,
        "answers": 125_000,
        "likes": 60_000,
        "months": 6,
    },
    "100k": {
        "users": 5_000,
        "questions": 100_000,
        "answers": 250_000,
        "likes": 150_000,
        "months": 12,
    },
    "1m": {
        "users": 10_000,
        "questions": 1_000_000,
        "answers": 2_500_000,
        "likes": 1_500_000,
        "months": 24,
    },
}

# Approximate residents per district (rounded; order of magnitude matters here).
POPULATION: dict[str, int] = {
    "노형동": 55000,
    "연동": 43000,
    "이도2동": 40000,
    "아라동": 38000,
    "애월읍": 38000,
    "일도2동": 33000,
    "삼양동": 26000,
    "조천읍": 26000,
    "화북동": 24000,
    "동홍동": 24000,
    "외도동": 22000,
    "대정읍": 22000,
    "한림읍": 21000,
    "오라동": 19000,
    "남원읍": 19000,
    "이호동": 5000,
    "도두동": 3000,
    "구좌읍": 16000,
    "대륜동": 16000,
    "성산읍": 15000,
    "대천동": 14000,
    "봉개동": 6000,
    "용담2동": 15000,
    "중문동": 12000,
    "안덕면": 12000,
    "표선면": 12000,
    "서홍동": 11000,
    "건입동": 9000,
    "한경면": 9000,
    "일도1동": 2500,
    "이도1동": 7000,
    "삼도1동": 11000,
    "삼도2동": 8000,
    "용담1동": 7000,
    "효돈동": 6000,
    "영천동": 6000,
    "예래동": 5000,
    "중앙동": 4000,
    "천지동": 4000,
    "송산동": 4000,
    "정방동": 2000,
    "우도면": 1700,
    "추자면": 1700,
}
DEFAULT_POPULATION = 8000


def uuidv7_at(moment: datetime, rng: random.Random) -> uuid.UUID:
    ms = int(moment.timestamp() * 1000)
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


@dataclass
class District:
    code: str
    name: str
    weight: int
    points: list[tuple[float, float]]


def _polygon(text: str) -> Polygon:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]
    return Polygon(list(zip(numbers[0::2], numbers[1::2], strict=True)))


def load_districts(conn: psycopg.Connection[Any], rng: random.Random) -> list[District]:
    rows = conn.execute(
        "SELECT r.code, r.name, array_agg(s.shape::text) AS shapes FROM regions r "
        "JOIN region_shapes s ON s.region_code = r.code "
        "WHERE r.region_type = 'district' AND r.is_active GROUP BY r.code, r.name ORDER BY r.code"
    ).fetchall()
    districts = []
    for code, name, shapes in rows:
        polygons = [_polygon(s) for s in shapes]
        polygons = [p for p in polygons if p.is_valid and p.area > 0] or polygons
        biggest = max(polygons, key=lambda p: p.area)
        shape = prep(biggest)
        minx, miny, maxx, maxy = biggest.bounds
        points: list[tuple[float, float]] = []
        for _ in range(5000):
            if len(points) >= 64:
                break
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if shape.contains(Point(x, y)):
                points.append((x, y))
        # Holes and neighbours' enclaves: keep only the points the database
        # itself (region_at, as the insert trigger uses) puts in this district.
        kept = conn.execute(
            "SELECT x, y FROM unnest(%s::float8[], %s::float8[]) AS p(x, y) "
            "WHERE (SELECT r.code FROM region_at(point(x, y)) r) = %s",
            ([p[0] for p in points], [p[1] for p in points], code),
        ).fetchall()
        points = [(float(x), float(y)) for x, y in kept]
        if not points:
            c = biggest.representative_point()
            points = [(c.x, c.y)]
        districts.append(District(code, name, POPULATION.get(name, DEFAULT_POPULATION), points))
    return districts


def normalize_hashtag(raw: str) -> str:
    """The SQL ``normalize_hashtag()`` in Python: rows loaded with triggers off
    must hold exactly what the insert trigger would have stored."""
    text = unicodedata.normalize("NFC", raw.strip()).lower()
    text = re.sub(r"^#+|[\s#]+", "", text)
    return text[:30]


def _zipf_tag(rng: random.Random) -> str:
    rank = math.floor(1 / (1 - rng.random()) ** 0.9)  # heavy tail: few hot, many rare
    return f"제주{min(rank, 5000)}"


def _copy(conn: psycopg.Connection[Any], statement: str, rows: Any) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


@dataclass
class GenerateReport:
    scale: str
    counts: dict[str, int]
    seconds: dict[str, float]


def generate(database_url: str, scale: str, *, seed: int = 6) -> GenerateReport:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: one of {', '.join(SCALES)}")
    size = SCALES[scale]
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    now = datetime.now(UTC)
    start = now - timedelta(days=30 * size["months"])
    with psycopg.connect(database_url, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute(
            "SELECT ensure_question_partitions(%s::date, %s::date)",
            (start.date(), (now + timedelta(days=95)).date()),
        )
        districts = load_districts(conn, rng)
        weights = [d.weight for d in districts]
        by_name = {d.name: d for d in districts}
        # A pool of rendered questions per district, reused with varied suffixes.
        pool_size = min(size["questions"], 6000)
        names = [d.name for d in rng.choices(districts, weights=weights, k=pool_size)]
        pool: dict[str, list[Any]] = {}
        for item in demo_questions(rng, [d.name for d in districts], pool_size):
            pool.setdefault(item.district_name, []).append(item)
        del names
        timings["prepare"] = time.perf_counter() - t0

        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            t0 = time.perf_counter()
            user_ids = [
                uuidv7_at(start - timedelta(days=rng.uniform(1, 60)), rng)
                for _ in range(size["users"])
            ]
            user_regions = [rng.choices(districts, weights=weights)[0].code for _ in user_ids]
            _copy(
                conn,
                "COPY users (id, email, nickname, region_code, verification_level, "
                "created_at, last_active_at) FROM STDIN",
                (
                    (
                        uid,
                        f"bench{i}@bench.dongne.kr",
                        f"이웃{i}",
                        region,
                        rng.choice((0, 0, 0, 1, 2)),
                        start,
                        now,
                    )
                    for i, (uid, region) in enumerate(zip(user_ids, user_regions, strict=True))
                ),
            )
            timings["users"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            span = (now - start).total_seconds() - 3600
            moments = sorted(
                start + timedelta(seconds=rng.uniform(0, span)) for _ in range(size["questions"])
            )
            question_ids: list[uuid.UUID] = []
            question_meta: list[tuple[datetime, list[Any]]] = []

            def question_rows() -> Any:
                for n, moment in enumerate(moments):
                    district = rng.choices(districts, weights=weights)[0]
                    candidates = pool.get(district.name) or pool[rng.choice(list(pool))]
                    item = rng.choice(candidates)
                    qid = uuidv7_at(moment, rng)
                    question_ids.append(qid)
                    question_meta.append((moment, list(item.answers)))
                    tags = list(item.hashtags[:4])
                    if rng.random() < 0.6:
                        tags.append(_zipf_tag(rng))
                    tags = [t for t in dict.fromkeys(normalize_hashtag(t) for t in tags) if t][:5]
                    x, y = rng.choice(by_name[district.name].points)
                    title = item.title if n % 7 else f"{item.title} ({n % 97 + 1})"
                    yield (
                        qid,
                        rng.choice(user_ids),
                        title[:200],
                        item.content,
                        tags,
                        district.code,
                        item.category,
                        item.urgency,
                        f"({x},{y})",
                        moment,
                        moment,
                    )

            counts = {"users": len(user_ids)}
            counts["questions"] = _copy(
                conn,
                "COPY questions (id, user_id, title, content, hashtags, region_code, "
                "category, urgency, location, created_at, updated_at) FROM STDIN",
                question_rows(),
            )
            timings["questions"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            per_question = size["answers"] / max(size["questions"], 1)

            def answer_rows() -> Any:
                for qid, (moment, answers) in zip(question_ids, question_meta, strict=True):
                    k = min(int(rng.expovariate(1 / per_question) + 0.5), 12)
                    for j in range(k):
                        when = moment + timedelta(minutes=rng.uniform(1, 600) * (j + 1))
                        when = min(when, now - timedelta(seconds=1))
                        text = (
                            answers[j % len(answers)].content
                            if answers
                            else ("저도 궁금했는데 동네 분들 말로는 주말 오전이 제일 한산하대요.")
                        )
                        yield (
                            uuidv7_at(when, rng),
                            qid,
                            rng.choice(user_ids),
                            text[:1000],
                            when,
                            when,
                        )

            counts["answers"] = _copy(
                conn,
                "COPY answers (id, question_id, user_id, content, created_at, updated_at) "
                "FROM STDIN",
                answer_rows(),
            )
            timings["answers"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            seen: set[tuple[int, int]] = set()
            hot = max(1, len(question_ids) // 20)

            def like_rows() -> Any:
                while len(seen) < size["likes"]:
                    qi = (
                        rng.randrange(hot)
                        if rng.random() < 0.5
                        else rng.randrange(len(question_ids))
                    )
                    ui = rng.randrange(len(user_ids))
                    if (qi, ui) in seen:
                        continue
                    seen.add((qi, ui))
                    yield (question_ids[-1 - qi], user_ids[ui], question_meta[-1 - qi][0])

            counts["likes"] = _copy(
                conn,
                "COPY question_likes (question_id, user_id, created_at) FROM STDIN",
                like_rows(),
            )
            timings["likes"] = time.perf_counter() - t0

        # What the triggers would have maintained, set-based.
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "UPDATE questions q SET answer_count = a.n FROM (SELECT question_id, count(*) n "
                "FROM answers GROUP BY question_id) a WHERE a.question_id = q.id"
            )
            conn.execute(
                "UPDATE questions q SET like_count = l.n FROM (SELECT question_id, count(*) n "
                "FROM question_likes GROUP BY question_id) l WHERE l.question_id = q.id"
            )
            conn.execute(
                "UPDATE users u SET question_count = c.n FROM (SELECT user_id, count(*) n "
                "FROM questions GROUP BY user_id) c WHERE c.user_id = u.id"
            )
            conn.execute(
                "UPDATE users u SET answer_count = c.n FROM (SELECT user_id, count(*) n "
                "FROM answers GROUP BY user_id) c WHERE c.user_id = u.id"
            )
            conn.execute(
                """
                INSERT INTO hashtags (normalized_name, name, usage_count, last_used_at)
                SELECT normalize_hashtag(t), min(t), count(*), max(q.created_at)
                FROM questions q, unnest(q.hashtags) t
                WHERE normalize_hashtag(t) IS NOT NULL AND normalize_hashtag(t) <> ''
                GROUP BY normalize_hashtag(t)
                ON CONFLICT (normalized_name) DO UPDATE
                  SET usage_count = hashtags.usage_count + EXCLUDED.usage_count
                """
            )
            conn.execute(
                """
                INSERT INTO question_hashtags (question_id, hashtag_id, region_code, created_at)
                SELECT DISTINCT q.id, h.id, q.region_code, q.created_at
                FROM questions q, unnest(q.hashtags) t
                JOIN hashtags h ON h.normalized_name = normalize_hashtag(t)
                ON CONFLICT DO NOTHING
                """
            )
        timings["derived"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            "VACUUM (ANALYZE) questions, answers, users, question_likes, "
            "question_hashtags, hashtags"
        )
        timings["analyze"] = time.perf_counter() - t0
    os.environ.setdefault("DONGNE_BENCH_SCALE", scale)
    return GenerateReport(scale, counts, {k: round(v, 2) for k, v in timings.items()})
