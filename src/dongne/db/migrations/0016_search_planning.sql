-- Search planning cost (measured at 1 M questions, 28 month partitions).
--
-- * The document column's statistics keep 100 most-common lexemes per
--   partition instead of 1,000. Planning a search reads every scanned
--   partition's list to estimate the tsquery; at 1,000 entries that was two
--   thirds of the planning time (0.66 ms → 0.22 ms for one word over 28
--   partitions). The common words and the filter lexemes, the ones whose
--   estimate steers the plan, stay in the shorter list; a rarer word gets the
--   floor estimate, which picks the GIN index, as its frequency wants.
--   New partitions get the same target (ensure_question_partitions below).
-- * The page of a search is read by search_page_rows() with a generic plan
--   cached per connection. The ids are known only at run time, so a plan per
--   search had to weigh nine indexes in each month partition the page
--   touches (~1 ms); the generic plan probes each partition's primary key.
-- * search_words_common() tells whether words alone, unfiltered, match at
--   least a given number of questions, with a generic plan as well (LIMIT
--   stops each probe at the first matches).

ALTER TABLE question_search ALTER COLUMN document SET STATISTICS 10;

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
            EXECUTE format('ALTER TABLE %I ALTER COLUMN document SET STATISTICS 10',
                           'question_search' || suffix);
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;

CREATE FUNCTION search_page_rows(ids uuid[])
RETURNS TABLE (
    id uuid, title text, content text, hashtags text[], region_code text, category text,
    urgency text, status text, answer_count integer, view_count integer, like_count integer,
    created_at timestamptz, author_nickname text, author_verified boolean
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT q.id, q.title::text, q.content, q.hashtags::text[], q.region_code::text,
           q.category::text, q.urgency::text, q.status::text, q.answer_count, q.view_count,
           q.like_count, q.created_at, u.nickname::text, u.is_local_verified
    FROM questions q JOIN users u ON u.id = q.user_id
    WHERE q.id = ANY(ids) AND q.deleted_at IS NULL AND q.status <> 'hidden';
END;
$$;

CREATE FUNCTION search_words_common(words tsquery, enough integer)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN (SELECT count(*) >= enough
            FROM (SELECT 1 FROM question_search s WHERE s.document @@ words LIMIT enough) m);
END;
$$;
