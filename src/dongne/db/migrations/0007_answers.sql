-- Answers, answer likes and acceptance. The asker accepts at most one answer
-- per question, never their own; acceptance awards 150 points exactly once.

CREATE TABLE answers (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    question_id uuid NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content text NOT NULL,
    images text[] NOT NULL DEFAULT '{}',
    like_count integer NOT NULL DEFAULT 0,
    is_accepted boolean NOT NULL DEFAULT false,
    quality_score double precision NOT NULL DEFAULT 0.0,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    deleted_at timestamptz,
    -- Lets questions reference (answer, question) pairs: an accepted answer
    -- must belong to the question that accepts it.
    UNIQUE (id, question_id),
    CONSTRAINT valid_content_length CHECK (char_length(btrim(content)) BETWEEN 10 AND 1000),
    CONSTRAINT valid_quality_score CHECK (quality_score BETWEEN 0.0 AND 1.0),
    CONSTRAINT valid_image_count CHECK (cardinality(images) <= 10),
    CONSTRAINT accepted_fields_together CHECK (is_accepted = (accepted_at IS NOT NULL)),
    CONSTRAINT accepted_not_deleted CHECK (NOT (is_accepted AND deleted_at IS NOT NULL)),
    CONSTRAINT non_negative_likes CHECK (like_count >= 0)
);

CREATE UNIQUE INDEX answers_one_accepted_per_question ON answers (question_id) WHERE is_accepted;
CREATE INDEX answers_question_idx ON answers (question_id, id) WHERE deleted_at IS NULL;
CREATE INDEX answers_user_accepted_idx ON answers (user_id, is_accepted, created_at DESC);
CREATE INDEX answers_quality_idx ON answers (quality_score DESC) WHERE deleted_at IS NULL;

ALTER TABLE questions
    ADD CONSTRAINT questions_accepted_answer_fkey
    FOREIGN KEY (accepted_answer_id, id) REFERENCES answers (id, question_id);

CREATE TABLE answer_likes (
    answer_id uuid NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (answer_id, user_id)
);

CREATE INDEX answer_likes_user_idx ON answer_likes (user_id, created_at DESC);

CREATE FUNCTION check_answer_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    asker uuid;
BEGIN
    IF NEW.question_id <> OLD.question_id OR NEW.user_id <> OLD.user_id THEN
        RAISE EXCEPTION 'an answer cannot move to another question or author'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'immutable_identity';
    END IF;
    IF OLD.is_accepted AND NOT NEW.is_accepted THEN
        RAISE EXCEPTION 'an accepted answer cannot be un-accepted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'acceptance_is_final';
    END IF;
    IF NEW.is_accepted AND NOT OLD.is_accepted THEN
        SELECT q.user_id INTO asker FROM questions q
        WHERE q.id = NEW.question_id AND q.deleted_at IS NULL AND q.status <> 'hidden';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the question is deleted or hidden'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'question_accepts_answers';
        END IF;
        IF asker = NEW.user_id THEN
            RAISE EXCEPTION 'an asker cannot accept their own answer'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'not_own_answer';
        END IF;
        NEW.accepted_at := now();
    END IF;
    IF (NEW.content, NEW.images) IS DISTINCT FROM (OLD.content, OLD.images) THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER answers_check_update BEFORE UPDATE ON answers
    FOR EACH ROW EXECUTE FUNCTION check_answer_update();

-- The seed's award_points_for_accepted_answer, made exactly-once: the ledger
-- row carries an idempotency key and the question row is locked first.
CREATE FUNCTION answers_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    question_title text;
    delta integer := 0;
    points constant integer := 150;
BEGIN
    IF TG_OP = 'INSERT' THEN
        delta := 1;
        PERFORM enqueue_outbox('answer.created', 'question', NEW.question_id,
            jsonb_build_object('answer_id', NEW.id, 'user_id', NEW.user_id));
    ELSIF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
        delta := -1;
    ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
        delta := 1;
    END IF;
    IF delta <> 0 THEN
        UPDATE questions SET answer_count = answer_count + delta WHERE id = NEW.question_id;
        UPDATE users SET answer_count = answer_count + delta WHERE id = NEW.user_id;
    END IF;

    IF TG_OP = 'UPDATE' AND NEW.is_accepted AND NOT OLD.is_accepted THEN
        UPDATE questions
        SET accepted_answer_id = NEW.id, accepted_at = NEW.accepted_at, status = 'answered'
        WHERE id = NEW.question_id
        RETURNING title INTO question_title;

        IF award_points(NEW.user_id, points, 'earn_accepted_answer', '답변 채택으로 인한 포인트 획득',
                        'answer', NEW.id, 'accepted:' || NEW.id) IS NOT NULL THEN
            UPDATE users SET accepted_answer_count = accepted_answer_count + 1
            WHERE id = NEW.user_id;
            INSERT INTO notification_queue (user_id, type, title, message, data)
            VALUES (
                NEW.user_id, 'answer_accepted', '답변이 채택되었습니다!',
                format('"%s" 질문에 대한 답변이 채택되어 %s 포인트를 획득했습니다.',
                       question_title, points),
                jsonb_build_object('question_id', NEW.question_id, 'answer_id', NEW.id,
                                   'points', points)
            );
            PERFORM enqueue_outbox('answer.accepted', 'question', NEW.question_id,
                jsonb_build_object('answer_id', NEW.id, 'user_id', NEW.user_id,
                                   'points', points));
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER answers_after_write AFTER INSERT OR UPDATE ON answers
    FOR EACH ROW EXECUTE FUNCTION answers_after_write();

CREATE FUNCTION answer_likes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE answers SET like_count = like_count + 1 WHERE id = NEW.answer_id;
    ELSE
        UPDATE answers SET like_count = like_count - 1 WHERE id = OLD.answer_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER answer_likes_count AFTER INSERT OR DELETE ON answer_likes
    FOR EACH ROW EXECUTE FUNCTION answer_likes_count();
