-- Lock order for concurrent writers (found by the bench's ask/answer load).
--
-- 1. award_points locked the user row FOR UPDATE, which conflicts with the
--    FOR KEY SHARE locks that foreign-key checks take whenever another
--    transaction inserts a row referencing that user (a question, an answer, a
--    like, a ledger row). A balance is not a key, so FOR NO KEY UPDATE is the
--    right strength: it still serialises balance changes, and no longer waits
--    on, or deadlocks with, unrelated inserts.
-- 2. Hashtag rows were upserted in the order the asker typed them, so two
--    questions sharing tags in different orders could lock them in opposite
--    orders. They are now always locked in sorted order.

CREATE OR REPLACE FUNCTION award_points(
    p_user_id uuid,
    p_amount integer,
    p_type point_transaction_type,
    p_description text DEFAULT NULL,
    p_reference_type text DEFAULT NULL,
    p_reference_id uuid DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    before integer;
    transaction_id uuid;
BEGIN
    SELECT point_balance INTO before FROM users WHERE id = p_user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', p_user_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO point_transactions (
        user_id, amount, transaction_type, description, reference_type, reference_id,
        idempotency_key, balance_before, balance_after
    ) VALUES (
        p_user_id, p_amount, p_type, p_description, p_reference_type, p_reference_id,
        p_idempotency_key, before, before + p_amount
    )
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO transaction_id;
    IF transaction_id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE users
    SET point_balance = before + p_amount,
        total_earned_points = total_earned_points + greatest(p_amount, 0)
    WHERE id = p_user_id;
    PERFORM enqueue_outbox('points.awarded', 'user', p_user_id,
        jsonb_build_object('user_id', p_user_id, 'transaction_id', transaction_id,
                           'amount', p_amount, 'balance_after', before + p_amount));
    RETURN transaction_id;
END;
$$;

CREATE OR REPLACE FUNCTION link_question_hashtags(q questions, tags text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(tags) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO hashtags AS h (normalized_name, name, usage_count, last_used_at)
    SELECT t, t, 1, now() FROM unnest(tags) AS t ORDER BY t
    ON CONFLICT (normalized_name) DO UPDATE
        SET usage_count = h.usage_count + 1, last_used_at = now();
    INSERT INTO question_hashtags (question_id, hashtag_id, region_code, created_at)
    SELECT q.id, h.id, q.region_code, q.created_at
    FROM hashtags h WHERE h.normalized_name = ANY (tags);
END;
$$;

CREATE OR REPLACE FUNCTION unlink_question_hashtags(q questions, tags text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(tags) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM hashtags WHERE normalized_name = ANY (tags)
    ORDER BY normalized_name FOR NO KEY UPDATE;
    UPDATE hashtags SET usage_count = usage_count - 1
    WHERE normalized_name = ANY (tags) AND usage_count > 0;
    DELETE FROM question_hashtags qh USING hashtags h
    WHERE qh.question_id = q.id AND qh.hashtag_id = h.id AND h.normalized_name = ANY (tags);
END;
$$;
