-- The Q&A service: popularity ranking, batched view counts, question highlights.

-- The seed's popularity score, views·0.1 + answers·2 + likes + urgency (5/10),
-- halved every 24 hours. score(now) = base · 2^(-(now - created)/24h), so
-- ln(score) = ln(base) + ln2 · created/24h − ln2 · now/24h: the last term is
-- the same for every row, so ordering by this key is ordering by the score at
-- any moment. The key never changes with the clock, which makes keyset
-- pagination over "popular" stable and the key indexable.
CREATE FUNCTION question_popularity_key(
    views integer, answers integer, likes integer, urgency question_urgency, created timestamptz
) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ln(greatest(
               views * 0.1 + answers * 2 + likes
               + CASE urgency WHEN 'emergency' THEN 10 WHEN 'urgent' THEN 5 ELSE 0 END,
               0.001))
           + ln(2) * extract(epoch FROM created) / 86400.0
$$;

CREATE INDEX questions_popularity_idx ON questions (
    question_popularity_key(view_count, answer_count, like_count, urgency, created_at) DESC, id DESC
) WHERE deleted_at IS NULL AND status <> 'hidden';

-- View counts arrive in Redis and are flushed in batches. Each flush has an
-- id recorded in the same transaction that applies it, so a flush retried
-- after a crash between commit and cleanup is never applied twice.
CREATE TABLE view_count_flushes (
    flush_id varchar(64) PRIMARY KEY,
    questions integer NOT NULL,
    views bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX answers_user_created_idx ON answers (user_id, created_at DESC);
