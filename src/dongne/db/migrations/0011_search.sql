-- Korean search on PostgreSQL (issue 5). Derived data lives in its own table,
-- never in ``questions``: the index can be dropped and rebuilt from the truth
-- (``dongne search reindex``) and its write traffic (one upsert per outbox
-- event) never touches the partitioned questions table.
--
-- The tsvector is built in the application from Kiwi morphemes (PostgreSQL
-- has no Korean text search configuration) and stored with the weights of the
-- seed's 3/2/1/1: title A, hashtags B, content C, author nickname D.

CREATE TABLE question_search (
    question_id uuid PRIMARY KEY REFERENCES questions (id) ON DELETE CASCADE,
    document tsvector NOT NULL,
    -- The raw title for trigram matching (partial words and typos).
    title text NOT NULL,
    -- Copies used to filter candidates before they are joined back to
    -- ``questions`` (which stays the authority for visibility and counters).
    region_code varchar(20) NOT NULL,
    category varchar(50) NOT NULL,
    hashtags text[] NOT NULL DEFAULT '{}',
    -- question_search_fingerprint() of what was indexed: drift is a mismatch.
    source_hash text NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX question_search_document_gin ON question_search USING gin (document);
CREATE INDEX question_search_title_trgm ON question_search USING gin (title gin_trgm_ops);
CREATE INDEX question_search_region_idx ON question_search (region_code, question_id DESC);

-- Everything that determines a question's search row, hashed. The sync writes
-- it; ``dongne search check`` compares it with the same function over the
-- current questions, so drift detection needs no Korean analysis in SQL.
CREATE FUNCTION question_search_fingerprint(
    title text, content text, hashtags text[], nickname text, region_code text, category text
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(concat_ws(E'\x1f', title, content, array_to_string(hashtags, E'\x1e'), nickname,
                         region_code, category))
$$;

-- The initial consonants (초성) of Hangul syllables, other characters kept:
-- 애월읍 → ㅇㅇㅇ. Autocomplete matches 초성 input against it.
CREATE FUNCTION hangul_initials(input text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(
        CASE WHEN ch BETWEEN '가' AND '힣'
             THEN substr('ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ', (ascii(ch) - 44032) / 588 + 1, 1)
             ELSE ch END, '' ORDER BY pos), '')
    FROM unnest(regexp_split_to_array(input, '')) WITH ORDINALITY AS c(ch, pos)
$$;

CREATE INDEX hashtags_initials_idx ON hashtags (hangul_initials(normalized_name) text_pattern_ops);
