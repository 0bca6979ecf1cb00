-- Questions, partitioned by month. Ids are UUIDv7, so a month is a contiguous
-- id range: partitioning BY RANGE (id) keeps PRIMARY KEY (id) legal and lets
-- answers keep a real foreign key to questions. created_at is taken from the id.

CREATE TABLE questions (
    id uuid NOT NULL DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,

    title varchar(200) NOT NULL,
    content text NOT NULL,
    hashtags text[] NOT NULL DEFAULT '{}',

    region_code varchar(20) NOT NULL REFERENCES regions (code),
    category varchar(50) NOT NULL REFERENCES categories (code),
    urgency question_urgency NOT NULL DEFAULT 'normal',
    status question_status NOT NULL DEFAULT 'open',

    location point,
    location_description varchar(200),

    view_count integer NOT NULL DEFAULT 0,
    like_count integer NOT NULL DEFAULT 0,
    answer_count integer NOT NULL DEFAULT 0,

    accepted_answer_id uuid,
    accepted_at timestamptz,
    highlighted_until timestamptz,

    images text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',

    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,

    PRIMARY KEY (id),
    CONSTRAINT valid_title_length CHECK (char_length(btrim(title)) BETWEEN 10 AND 200),
    CONSTRAINT valid_content_length CHECK (char_length(btrim(content)) BETWEEN 20 AND 2000),
    CONSTRAINT valid_hashtag_count CHECK (cardinality(hashtags) <= 5),
    CONSTRAINT valid_image_count CHECK (cardinality(images) <= 10),
    CONSTRAINT id_is_uuidv7 CHECK (uuid_extract_version(id) = 7),
    CONSTRAINT valid_location CHECK (
        location IS NULL OR (location[0] BETWEEN -180 AND 180 AND location[1] BETWEEN -90 AND 90)
    ),
    CONSTRAINT accepted_fields_together CHECK ((accepted_answer_id IS NULL) = (accepted_at IS NULL)),
    CONSTRAINT non_negative_counts CHECK (view_count >= 0 AND like_count >= 0 AND answer_count >= 0)
) PARTITION BY RANGE (id);

-- Feeds: newest first per region (and per category), keyset on id.
CREATE INDEX questions_region_feed_idx ON questions (region_code, status, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX questions_region_category_idx ON questions (region_code, category, id DESC)
    WHERE deleted_at IS NULL;
-- A user's own questions without touching the heap (covering).
CREATE INDEX questions_user_activity_idx ON questions (user_id, status)
    INCLUDE (title, created_at, answer_count);
CREATE INDEX questions_hashtags_gin ON questions USING gin (hashtags)
    WHERE status IN ('open', 'answered');
CREATE INDEX questions_title_trgm ON questions USING gin (title gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX questions_location_earth ON questions
    USING gist (ll_to_earth(location[1], location[0]))
    WHERE location IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX questions_open_urgent_idx ON questions (urgency, id DESC)
    WHERE status = 'open' AND deleted_at IS NULL AND urgency <> 'normal';

-- Create the monthly partitions covering [first_month, last_month].
CREATE FUNCTION ensure_question_partitions(first_month date, last_month date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first_month);
    created integer := 0;
    partition_name text;
BEGIN
    WHILE month <= date_trunc('month', last_month) LOOP
        partition_name := format('questions_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF questions FOR VALUES FROM (%L) TO (%L)',
                partition_name,
                uuidv7_floor(month::timestamp AT TIME ZONE 'UTC'),
                uuidv7_floor((month + interval '1 month')::timestamp AT TIME ZONE 'UTC')
            );
            created := created + 1;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;

-- Partitions from last month to three months ahead; the application extends it.
SELECT ensure_question_partitions(
    (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date,
    (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months')::date
);

CREATE TABLE hashtags (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    normalized_name varchar(30) NOT NULL UNIQUE,
    name varchar(60) NOT NULL,
    category varchar(50) REFERENCES categories (code),
    usage_count integer NOT NULL DEFAULT 0,
    last_used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT normalized CHECK (normalized_name = normalize_hashtag(normalized_name)),
    CONSTRAINT non_negative_usage CHECK (usage_count >= 0)
);

CREATE INDEX hashtags_usage_idx ON hashtags (usage_count DESC, normalized_name);
CREATE INDEX hashtags_name_trgm ON hashtags USING gin (normalized_name gin_trgm_ops);

-- The question <-> hashtag link, carrying region and time for trending queries.
CREATE TABLE question_hashtags (
    question_id uuid NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    hashtag_id uuid NOT NULL REFERENCES hashtags (id) ON DELETE CASCADE,
    region_code varchar(20) NOT NULL REFERENCES regions (code),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (question_id, hashtag_id)
);

CREATE INDEX question_hashtags_trending_idx ON question_hashtags (region_code, created_at DESC)
    INCLUDE (hashtag_id);
CREATE INDEX question_hashtags_tag_idx ON question_hashtags (hashtag_id, created_at DESC);

CREATE TABLE question_likes (
    question_id uuid NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (question_id, user_id)
);

CREATE INDEX question_likes_user_idx ON question_likes (user_id, created_at DESC);

-- New-question processing (the seed's process_new_question): time from id,
-- normalised hashtags, region from the map point when none was given.
CREATE FUNCTION process_new_question() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF uuid_extract_version(NEW.id) IS DISTINCT FROM 7 THEN
        RAISE EXCEPTION 'question ids must be UUIDv7, got %', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'id_is_uuidv7';
    END IF;
    NEW.created_at := uuid_extract_timestamp(NEW.id);
    NEW.updated_at := NEW.created_at;
    NEW.hashtags := normalize_hashtags(NEW.hashtags);
    IF NEW.region_code IS NULL AND NEW.location IS NOT NULL THEN
        SELECT r.code INTO NEW.region_code FROM region_at(NEW.location) AS r;
        IF NEW.region_code IS NULL THEN
            RAISE EXCEPTION 'location % is outside the service area', NEW.location
                USING ERRCODE = 'check_violation', CONSTRAINT = 'location_in_service_area';
        END IF;
    END IF;
    NEW.category := coalesce(NEW.category, 'other');
    RETURN NEW;
END;
$$;

CREATE TRIGGER questions_process_new BEFORE INSERT ON questions
    FOR EACH ROW EXECUTE FUNCTION process_new_question();

CREATE FUNCTION process_question_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a question''s id and created_at never change'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'immutable_identity';
    END IF;
    NEW.hashtags := normalize_hashtags(NEW.hashtags);
    -- Counter and status bookkeeping is not an edit: only what the author
    -- wrote moves updated_at.
    IF (NEW.title, NEW.content, NEW.hashtags, NEW.category, NEW.urgency, NEW.location::text,
        NEW.location_description, NEW.images, NEW.region_code)
       IS DISTINCT FROM
       (OLD.title, OLD.content, OLD.hashtags, OLD.category, OLD.urgency, OLD.location::text,
        OLD.location_description, OLD.images, OLD.region_code) THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER questions_process_update BEFORE UPDATE ON questions
    FOR EACH ROW EXECUTE FUNCTION process_question_update();

-- Link a question to its hashtags (creating them) and count the use.
CREATE FUNCTION link_question_hashtags(q questions, tags text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(tags) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO hashtags AS h (normalized_name, name, usage_count, last_used_at)
    SELECT t, t, 1, now() FROM unnest(tags) AS t
    ON CONFLICT (normalized_name) DO UPDATE
        SET usage_count = h.usage_count + 1, last_used_at = now();
    INSERT INTO question_hashtags (question_id, hashtag_id, region_code, created_at)
    SELECT q.id, h.id, q.region_code, q.created_at
    FROM hashtags h WHERE h.normalized_name = ANY (tags);
END;
$$;

CREATE FUNCTION unlink_question_hashtags(q questions, tags text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(tags) = 0 THEN
        RETURN;
    END IF;
    UPDATE hashtags SET usage_count = usage_count - 1
    WHERE normalized_name = ANY (tags) AND usage_count > 0;
    DELETE FROM question_hashtags qh USING hashtags h
    WHERE qh.question_id = q.id AND qh.hashtag_id = h.id AND h.normalized_name = ANY (tags);
END;
$$;

-- Counters and hashtag links follow the question's life: created, soft
-- deleted or restored, hashtags edited.
CREATE FUNCTION questions_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta integer := 0;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.deleted_at IS NULL THEN
            delta := 1;
            PERFORM link_question_hashtags(NEW, NEW.hashtags);
        END IF;
    ELSIF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
        delta := -1;
        PERFORM unlink_question_hashtags(OLD, OLD.hashtags);
    ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
        delta := 1;
        PERFORM link_question_hashtags(NEW, NEW.hashtags);
    ELSIF NEW.deleted_at IS NULL AND NEW.hashtags IS DISTINCT FROM OLD.hashtags THEN
        PERFORM unlink_question_hashtags(OLD, ARRAY(
            SELECT unnest(OLD.hashtags) EXCEPT SELECT unnest(NEW.hashtags)));
        PERFORM link_question_hashtags(NEW, ARRAY(
            SELECT unnest(NEW.hashtags) EXCEPT SELECT unnest(OLD.hashtags)));
    END IF;
    IF delta <> 0 THEN
        UPDATE users SET question_count = question_count + delta WHERE id = NEW.user_id;
        UPDATE regions SET question_count = question_count + delta WHERE code = NEW.region_code;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER questions_after_write AFTER INSERT OR UPDATE ON questions
    FOR EACH ROW EXECUTE FUNCTION questions_after_write();

CREATE FUNCTION question_likes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE questions SET like_count = like_count + 1 WHERE id = NEW.question_id;
    ELSE
        UPDATE questions SET like_count = like_count - 1 WHERE id = OLD.question_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER question_likes_count AFTER INSERT OR DELETE ON question_likes
    FOR EACH ROW EXECUTE FUNCTION question_likes_count();
