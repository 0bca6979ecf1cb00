-- Old search months merge into quarters (issue 5).
--
-- Every statement of a search plans each search partition its windows touch,
-- and a rare word costs one GIN probe per partition: ~0.12 ms a partition
-- together, 24 months at 1 M questions. The recent months, which the first
-- windows read alone, stay monthly; a quarter that ended three months before
-- the current month becomes one partition (``merge_search_quarter``, run by
-- the ``merge_search_quarters`` job). ``questions`` keeps its months: only
-- the derived search index changes shape.

-- A new search partition takes every statistics target the parent sets.
CREATE FUNCTION question_search_copy_statistics(part text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT attname, attstattarget FROM pg_attribute
        WHERE attrelid = 'question_search'::regclass AND attstattarget IS NOT NULL
          AND attnum > 0 AND NOT attisdropped
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s',
                       part, target.attname, target.attstattarget);
    END LOOP;
END;
$$;

-- One quarter per call, the oldest due: each merge is its own transaction.
-- Writers of those months (the outbox sync) wait while the rows are copied
-- and indexed beside them; searches read on until the swap at the end,
-- which holds the parent briefly (the new partition's foreign key is checked
-- then). Returns the quarter's partition, or NULL when none is due.
CREATE FUNCTION merge_search_quarter(upto date) RETURNS text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $$
DECLARE
    quarter date;
    months text[];
    part text;
    name text;
    low uuid;
    high uuid;
BEGIN
    SELECT min(date_trunc('quarter', to_date(substr(c.relname, 18, 4) || substr(c.relname, 23, 2),
                                             'YYYYMM')))::date
    INTO quarter
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'question_search'::regclass
      AND c.relname ~ '^question_search_y\d{4}m\d{2}$';
    IF quarter IS NULL OR quarter + interval '3 months' > upto THEN
        RETURN NULL;
    END IF;
    name := format('question_search_y%sq%s', to_char(quarter, 'YYYY'), to_char(quarter, 'Q'));
    low := uuidv7_floor(quarter::timestamp AT TIME ZONE 'UTC');
    high := uuidv7_floor((quarter + interval '3 months')::timestamp AT TIME ZONE 'UTC');
    SELECT array_agg(c.relname::text ORDER BY c.relname) INTO months
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'question_search'::regclass
      AND c.relname IN (SELECT format('question_search_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'))
                        FROM generate_series(quarter, quarter + interval '2 months',
                                             interval '1 month') AS m);
    FOREACH part IN ARRAY months LOOP
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
    FOREACH part IN ARRAY months LOOP
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

-- A month of a merged quarter gets no search partition of its own again
-- (it would overlap the quarter's); otherwise as in 0018.
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
                                  to_char(month, 'Q'))) IS NULL THEN
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
