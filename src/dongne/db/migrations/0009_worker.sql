-- The outbox worker: NOTIFY wake-ups, a dead-letter state, the indexes the
-- worker's claim query needs, 'points.awarded' events from award_points(), and
-- notifications that one event may fan out to several users and kinds.

-- Dead letters. An event that failed the worker's maximum number of attempts
-- gets dead_at and is never claimed again; processed_at stays NULL because it
-- was never handled. A dead event no longer holds back later events of its
-- aggregate (see docs/decisions.md); an operator can requeue it.
ALTER TABLE outbox ADD COLUMN dead_at timestamptz;
ALTER TABLE outbox ADD CONSTRAINT outbox_settled_once
    CHECK (processed_at IS NULL OR dead_at IS NULL);

-- Pending = neither processed nor dead. The claim scans pending events in id
-- order and asks, per candidate, whether its aggregate has an earlier pending
-- event; both indexes hold pending rows only, so they stay small however long
-- the outbox grows.
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON outbox (id) INCLUDE (available_at)
    WHERE processed_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_pending_aggregate_idx ON outbox (aggregate_type, aggregate_id, id)
    WHERE processed_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead_idx ON outbox (dead_at DESC) WHERE dead_at IS NOT NULL;

-- Wake idle workers. NOTIFY is delivered at commit (never for a rolled-back
-- insert) and identical notifications of one transaction are folded into one,
-- so a statement-level trigger with an empty payload is all a worker needs: it
-- reads the events from the table, not from the notification.
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dongne_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- award_points() as in 0006, plus a 'points.awarded' event in the same
-- transaction whenever a ledger row is written (not when the idempotency key
-- was already used).
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
    SELECT point_balance INTO before FROM users WHERE id = p_user_id FOR UPDATE;
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

-- One event may notify several users, and one user of several things of the
-- same type (two badges from one answer). source_key names the thing within the
-- event: '' for the event itself, the badge type for a badge, the milestone
-- for a points milestone. Delivering an event twice still inserts nothing new.
ALTER TABLE notifications ADD COLUMN source_key varchar(100) NOT NULL DEFAULT '';
ALTER TABLE notifications DROP CONSTRAINT notifications_source_event_id_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_source_once
    UNIQUE (source_event_id, user_id, type, source_key);
-- A balance milestone is announced once in a user's life, even if spending
-- takes the balance below it and a later award crosses it again.
CREATE UNIQUE INDEX notifications_points_milestone_once ON notifications (user_id, source_key)
    WHERE type = 'points_milestone';

-- The unread listing pages by id like the full one; the same index counts.
DROP INDEX notifications_unread_idx;
CREATE INDEX notifications_unread_idx ON notifications (user_id, id DESC) WHERE NOT is_read;
