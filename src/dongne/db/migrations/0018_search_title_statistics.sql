-- The widening stage's title similarity (pg_trgm's <% and %) is estimated by
-- running the operator against the column's most common values and histogram
-- in every partition planned: 200 titles per partition, 16.5 ms of planning
-- per statement at 28 month partitions. Ten values each estimate it as well
-- for the only choice the plan has (the trigram index), in a tenth of the time.
ALTER TABLE question_search ALTER COLUMN title SET STATISTICS 10;

-- New partitions take every statistics target the parent sets (0016 wrote
-- the document's by name; this follows whatever the parent says).
CREATE OR REPLACE FUNCTION ensure_question_partitions(first_month date, last_month date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first_month);
    created integer := 0;
    suffix text;
    low uuid;
    high uuid;
    target record;
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
            FOR target IN
                SELECT attname, attstattarget FROM pg_attribute
                WHERE attrelid = 'question_search'::regclass AND attstattarget IS NOT NULL
                  AND attnum > 0 AND NOT attisdropped
            LOOP
                EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s',
                               'question_search' || suffix, target.attname,
                               target.attstattarget);
            END LOOP;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;
