-- The frequent list also counts the filter lexemes (region, category, map
-- cells …) and, under the empty lexeme, the rows of the window themselves,
-- so a search can estimate how many rows of the newest window its words
-- and its filters leave, not its words alone (0019): a word frequent in the
-- month under a district filter rarely fills the window, and reading the
-- window alone first was then wasted.
CREATE OR REPLACE FUNCTION refresh_search_frequent_lexemes(since uuid, threshold integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    listed integer;
BEGIN
    DELETE FROM search_frequent_lexemes;
    INSERT INTO search_frequent_lexemes (lexeme, documents)
    SELECT word, ndoc
    FROM ts_stat(format('SELECT document FROM question_search WHERE question_id >= %L::uuid',
                        since))
    WHERE ndoc >= threshold
    UNION ALL
    SELECT '', count(*) FROM question_search WHERE question_id >= since HAVING count(*) > 0;
    GET DIAGNOSTICS listed = ROW_COUNT;
    RETURN listed;
END;
$$;
