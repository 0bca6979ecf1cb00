-- Extensions, enums and the generic functions every later migration uses.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TYPE region_type AS ENUM ('country', 'province', 'city', 'district', 'neighborhood');
CREATE TYPE question_urgency AS ENUM ('normal', 'urgent', 'emergency');
CREATE TYPE question_status AS ENUM ('open', 'answered', 'closed', 'hidden');
CREATE TYPE user_role AS ENUM ('member', 'moderator', 'admin');
CREATE TYPE point_transaction_type AS ENUM (
    'earn_answer',
    'earn_accepted_answer',
    'earn_daily_login',
    'earn_first_question',
    'earn_milestone',
    'spend_highlight',
    'spend_premium',
    'admin_adjustment'
);
CREATE TYPE notification_type AS ENUM (
    'answer_received',
    'answer_accepted',
    'badge_earned',
    'points_milestone',
    'system'
);

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- One hashtag spelling per meaning: NFC, lower case, no '#', no inner
-- whitespace, at most 30 characters. NULL means "not a hashtag".
CREATE FUNCTION normalize_hashtag(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NULLIF(
        left(regexp_replace(lower(normalize(btrim(raw), NFC)), '^#+|[[:space:]#]+', '', 'g'), 30),
        ''
    )
$$;

-- Normalise, drop empties and duplicates, keep first-seen order.
CREATE FUNCTION normalize_hashtags(raw text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(tag ORDER BY first_pos), '{}')
    FROM (
        SELECT normalize_hashtag(t) AS tag, min(pos) AS first_pos
        FROM unnest(raw) WITH ORDINALITY AS u(t, pos)
        WHERE normalize_hashtag(t) IS NOT NULL
        GROUP BY 1
    ) tags
$$;

-- The smallest UUIDv7 at an instant: partition bounds for tables keyed by
-- time-ordered ids, so PRIMARY KEY (id) stays legal on a range-partitioned table.
CREATE FUNCTION uuidv7_floor(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0')
            || repeat('0', 20))::uuid
$$;
