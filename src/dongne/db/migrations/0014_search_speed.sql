-- Search that costs the same for a frequent term as for a rare one (issue 5).
--
-- A search reads the newest matches of its words, filtered, up to a
-- candidate limit (``dongne.search.postgres``). Two changes make that cheap
-- at a million questions:
--
-- * ``question_search`` is range-partitioned by question id like
--   ``questions`` (same months, same bounds), so each month has its own GIN
--   index. Reading the newest matches is then reading the newest months'
--   indexes first and stopping; one unpartitioned GIN index would hand over
--   every match of a frequent word (100 000 at 1 M questions) for each read.
-- * Every filter is a column of the row: status, urgency, whether it has
--   answers, whether its author is a verified local, the map point. A filter
--   that joined ``questions`` and ``users`` for every match cost seconds.
--   The outbox keeps them fresh (answer, acceptance, edit, verification and
--   nickname events re-sync the row), the fingerprint covers them so
--   ``dongne search check`` sees a stale one, and the rows shown are still
--   read from ``questions``, the authority for visibility and counters.
--
-- The rows are carried over from the old table, marked stale: run
-- ``dongne search reindex`` after this migration (the documents now also hold
-- synonym group lexemes, which only Kiwi can add).

DROP FUNCTION question_search_fingerprint(text, text, text[], text, text, text);

CREATE FUNCTION question_search_fingerprint(
    title text, content text, hashtags text[], nickname text, region_code text, category text,
    status text, urgency text, has_answers boolean, author_verified boolean, location point
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(concat_ws(E'\x1f', title, content, array_to_string(hashtags, E'\x1e'), nickname,
                         region_code, category, status, urgency, has_answers, author_verified,
                         location::text))
$$;

ALTER TABLE question_search RENAME TO question_search_unpartitioned;
ALTER INDEX question_search_pkey RENAME TO question_search_unpartitioned_pkey;

CREATE TABLE question_search (
    question_id uuid NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    document tsvector NOT NULL,
    title text NOT NULL,
    region_code varchar(20) NOT NULL,
    category varchar(50) NOT NULL,
    hashtags text[] NOT NULL DEFAULT '{}',
    status question_status NOT NULL,
    urgency question_urgency NOT NULL,
    has_answers boolean NOT NULL,
    author_verified boolean NOT NULL,
    location point,
    source_hash text NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (question_id)
) PARTITION BY RANGE (question_id);

-- One search partition per questions partition, same bounds; from now on
-- ensure_question_partitions() creates both.
CREATE OR REPLACE FUNCTION ensure_question_partitions(first_month date, last_month date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first_month);
    created integer := 0;
    suffix text;
    low uuid;
    high uuid;
BEGIN
    WHILE month <= date_trunc('month', last_month) LOOP
        suffix := format('_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
        low := uuidv7_floor(month::timestamp AT TIME ZONE 'UTC');
        high := uuidv7_floor((month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        IF to_regclass('questions' || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF questions FOR VALUES FROM (%L) TO (%L)',
                           'questions' || suffix, low, high);
            created := created + 1;
        END IF;
        IF to_regclass('question_search' || suffix) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF question_search FOR VALUES FROM (%L) TO (%L)',
                'question_search' || suffix, low, high);
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;

DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'questions'::regclass
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF question_search %s',
                       replace(part.relname, 'questions_', 'question_search_'), part.bound);
    END LOOP;
END
$$;

-- Filters inside the index. Each document also holds one lexeme per filter
-- value — its category, status, urgency, answered or not, author verified or
-- not, each hashtag, and its region with every ancestor region (codes extend
-- their parent's, so KR-49-01-02 also holds KR-49-01 and KR-49: a filter on a
-- city is one lexeme). A search ANDs them into its tsquery, so GIN intersects
-- the word with the filter inside the index (skipping through the longer
-- posting list), instead of fetching every match of a frequent word to test
-- its columns — or walking the newest rows in the hope of meeting a match
-- that a narrow filter never lets through. The map point becomes grid cells
-- at eight sizes (0.005° doubling up to 0.64°: ~500 m to ~70 km), so a
-- radius is an OR of the few cells covering it. The columns stay, and the search
-- re-checks them: a hashtag or word spelled like a filter lexeme only ever
-- makes the index return a row the re-check drops.
CREATE FUNCTION question_search_filter_lexemes(
    region_code text, category text, hashtags text[], status text, urgency text,
    has_answers boolean, author_verified boolean, location point
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(ARRAY(
        SELECT '@r:' || array_to_string((string_to_array(region_code, '-'))[1:n], '-')
        FROM generate_series(2, cardinality(string_to_array(region_code, '-'))) AS n
        UNION SELECT '@h:' || tag FROM unnest(hashtags) AS tag
        UNION SELECT format('@g%s:%s:%s', level, floor(location[0] / size)::bigint,
                            floor(location[1] / size)::bigint)
        FROM unnest(ARRAY[0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64]::float8[])
             WITH ORDINALITY AS g(size, level)
        WHERE location IS NOT NULL
        UNION SELECT unnest(ARRAY['@c:' || category, '@s:' || status, '@u:' || urgency,
                                  '@a:' || has_answers::int, '@v:' || author_verified::int])
    ))
$$;

-- Whoever writes a row (the outbox sync, a reindex, a bulk COPY) writes the
-- words; the filter lexemes always come from the row's own columns.
CREATE FUNCTION question_search_add_filter_lexemes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.document := ts_delete(NEW.document, ARRAY(
                        SELECT lexeme FROM unnest(tsvector_to_array(NEW.document)) AS lexeme
                        WHERE lexeme ~ '^@([rhcsuav]|g[1-8]):'))
                    || question_search_filter_lexemes(
                        NEW.region_code, NEW.category, NEW.hashtags, NEW.status::text,
                        NEW.urgency::text, NEW.has_answers, NEW.author_verified, NEW.location);
    RETURN NEW;
END
$$;

CREATE TRIGGER question_search_filter_lexemes
    BEFORE INSERT OR UPDATE ON question_search
    FOR EACH ROW EXECUTE FUNCTION question_search_add_filter_lexemes();

INSERT INTO question_search
    (question_id, document, title, region_code, category, hashtags, status, urgency,
     has_answers, author_verified, location, source_hash, indexed_at)
SELECT s.question_id, s.document, s.title, s.region_code, s.category, s.hashtags, q.status,
       q.urgency, q.answer_count > 0, u.is_local_verified, q.location,
       -- The documents lack the synonym group lexemes this version indexes
       -- (dongne.search.analysis): every row is stale until the outbox or
       -- ``dongne search reindex`` rebuilds it (docs/search.md, "Upgrading").
       'stale',
       s.indexed_at
FROM question_search_unpartitioned s
JOIN questions q ON q.id = s.question_id
JOIN users u ON u.id = q.user_id
WHERE q.deleted_at IS NULL AND q.status <> 'hidden';

DROP TABLE question_search_unpartitioned;

CREATE INDEX question_search_document_gin ON question_search USING gin (document);
CREATE INDEX question_search_title_trgm ON question_search USING gin (title gin_trgm_ops);
-- No index on the map point: its grid-cell lexemes put the radius in the GIN
-- index together with the words (a separate GiST index led the planner to
-- read every row in the box and test the words on each).

-- Visibility is not eventual: the moment a question is hidden or deleted its
-- search row goes, in the same transaction, so it is never counted in a
-- total or a facet while the outbox catches up. (Everything else about the
-- row — text, status, counters — follows through the outbox; unhiding
-- re-creates the row there.)
CREATE FUNCTION drop_invisible_question_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM question_search WHERE question_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER questions_drop_invisible_search
    AFTER UPDATE OF deleted_at, status ON questions
    FOR EACH ROW
    WHEN (NEW.deleted_at IS NOT NULL OR NEW.status = 'hidden')
    EXECUTE FUNCTION drop_invisible_question_search();
