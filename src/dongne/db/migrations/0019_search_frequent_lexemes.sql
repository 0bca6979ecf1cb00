-- Which lexemes are frequent in the newest search window (issue 5).
--
-- A search first reads the newest window alone, since a frequent word fills
-- the candidate limit there and the statement then plans one or two month
-- partitions instead of all of them. For a query that cannot fill it, that
-- statement is wasted (~0.6 ms of planning and reading at 1 M questions).
-- The list counts the words and the filter lexemes (region, category, map
-- cells …) of the window and, under the empty lexeme, its rows, so a search
-- estimates how many rows its words and its filters leave there
-- (``dongne.search.frequency``): a word frequent in the month under a
-- district filter rarely fills the window. The list is only a guide to the
-- cheaper path: either path returns the same candidates. The
-- ``refresh_search_frequency`` job rewrites it hourly.
CREATE TABLE search_frequent_lexemes (
    lexeme text PRIMARY KEY,
    documents integer NOT NULL CHECK (documents > 0)
);

-- Lexemes in at least ``threshold`` search rows from ``since`` on, and the
-- rows, replacing the list in one transaction: readers see the old list or
-- the new one.
CREATE FUNCTION refresh_search_frequent_lexemes(since uuid, threshold integer)
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
