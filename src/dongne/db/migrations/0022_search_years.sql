-- Past years of the search index merge into one partition each (issue 5).
--
-- At 1 M questions the quarters of 0020 still left a rare word nine quarter
-- and month partitions older than the recent months: each one more GIN probe
-- and more planning in every search. A year that ended before the recent
-- months (``merged_before`` in dongne.search.postgres) becomes one
-- partition; quarters of the current year merge as before. One function now
-- does either, the oldest due first, one per call.

-- Where a search partition begins, from its name (month, quarter or year).
CREATE FUNCTION question_search_partition_start(part text) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN part ~ '^question_search_y\d{4}m\d{2}$'
            THEN make_date(substr(part, 18, 4)::int, substr(part, 23, 2)::int, 1)
        WHEN part ~ '^question_search_y\d{4}q[1-4]$'
            THEN make_date(substr(part, 18, 4)::int, substr(part, 23, 1)::int * 3 - 2, 1)
        WHEN part ~ '^question_search_y\d{4}$'
            THEN make_date(substr(part, 18, 4)::int, 1, 1)
    END
$$;

-- The partitions from ``first_day`` up to ``end_day`` become one, ``name``.
-- Their writers (the outbox sync) wait while the rows are copied and indexed
-- beside them; searches read on until the swap at the end, which holds the
-- parent briefly (the new partition's foreign key is checked then).
CREATE FUNCTION merge_search_range(name text, first_day date, end_day date) RETURNS text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $$
DECLARE
    parts text[];
    part text;
    low uuid := uuidv7_floor(first_day::timestamp AT TIME ZONE 'UTC');
    high uuid := uuidv7_floor(end_day::timestamp AT TIME ZONE 'UTC');
BEGIN
    SELECT array_agg(c.relname::text ORDER BY c.relname) INTO parts
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'question_search'::regclass
      AND question_search_partition_start(c.relname) >= first_day
      AND question_search_partition_start(c.relname) < end_day;
    FOREACH part IN ARRAY parts LOOP
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', part);
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE question_search INCLUDING DEFAULTS)', name);
    EXECUTE format('INSERT INTO %I SELECT * FROM question_search'
                   ' WHERE question_id >= %L AND question_id < %L', name, low, high);
    -- The bounds as a constraint, so attaching does not scan the rows again;
    -- the indexes the parent's match, so attaching builds none.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (question_id >= %L AND question_id < %L)',
                   name, name || '_bounds', low, high);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (question_id)', name);
    EXECUTE format('CREATE INDEX ON %I USING gin (document)', name);
    EXECUTE format('CREATE INDEX ON %I USING gin (title gin_trgm_ops)', name);
    PERFORM question_search_copy_statistics(name);
    FOREACH part IN ARRAY parts LOOP
        EXECUTE format('ALTER TABLE question_search DETACH PARTITION %I', part);
        EXECUTE format('DROP TABLE %I', part);
    END LOOP;
    EXECUTE format('ALTER TABLE question_search ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, low, high);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_bounds');
    EXECUTE format('ANALYZE %I', name);
    RETURN name;
END;
$$;

-- One merge per call, each its own transaction: the oldest year that ended
-- by ``upto`` and is not yet one partition, else the oldest quarter of
-- months that ended by then. Returns the new partition, or NULL when none
-- is due.
CREATE FUNCTION merge_search_partitions(upto date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    due date;
BEGIN
    SELECT min(date_trunc('year', question_search_partition_start(c.relname)))::date INTO due
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'question_search'::regclass
      AND c.relname !~ '^question_search_y\d{4}$'
      AND date_trunc('year', question_search_partition_start(c.relname))
          + interval '1 year' <= upto;
    IF due IS NOT NULL THEN
        RETURN merge_search_range(format('question_search_y%s', to_char(due, 'YYYY')),
                                  due, (due + interval '1 year')::date);
    END IF;
    SELECT min(date_trunc('quarter', question_search_partition_start(c.relname)))::date INTO due
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'question_search'::regclass
      AND c.relname ~ '^question_search_y\d{4}m\d{2}$'
      AND date_trunc('quarter', question_search_partition_start(c.relname))
          + interval '3 months' <= upto;
    IF due IS NOT NULL THEN
        RETURN merge_search_range(
            format('question_search_y%sq%s', to_char(due, 'YYYY'), to_char(due, 'Q')),
            due, (due + interval '3 months')::date);
    END IF;
    RETURN NULL;
END;
$$;

DROP FUNCTION merge_search_quarter(date);

-- A month of a merged quarter or year gets no search partition of its own
-- again (it would overlap the merged one); otherwise as in 0020.
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
        IF to_regclass('question_search' || suffix) IS NULL
           AND to_regclass(format('question_search_y%sq%s', to_char(month, 'YYYY'),
                                  to_char(month, 'Q'))) IS NULL
           AND to_regclass(format('question_search_y%s', to_char(month, 'YYYY'))) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF question_search FOR VALUES FROM (%L) TO (%L)',
                'question_search' || suffix, low, high);
            PERFORM question_search_copy_statistics('question_search' || suffix);
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;
