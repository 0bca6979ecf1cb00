-- Notifications (the inbox), the push queue, and the transactional outbox that
-- carries every side effect (search sync, cache invalidation, notifications,
-- badges) from a committed transaction to the worker.

CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type notification_type NOT NULL,
    title varchar(200) NOT NULL,
    message text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    is_read boolean NOT NULL DEFAULT false,
    read_at timestamptz,
    -- The outbox event that produced it: delivering an event twice is a no-op.
    source_event_id bigint UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT read_fields_together CHECK (is_read = (read_at IS NOT NULL))
);

CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE NOT is_read;

CREATE TABLE notification_queue (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type notification_type NOT NULL,
    title varchar(200) NOT NULL,
    message text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT non_negative_attempts CHECK (attempts >= 0)
);

CREATE INDEX notification_queue_pending_idx ON notification_queue (available_at)
    WHERE delivered_at IS NULL;

-- bigint identity, not UUID: the worker delivers in insertion order per aggregate.
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic varchar(100) NOT NULL,
    aggregate_type varchar(50) NOT NULL,
    aggregate_id uuid NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    processed_at timestamptz,
    CONSTRAINT valid_topic CHECK (topic ~ '^[a-z_]+(\.[a-z_]+)+$'),
    CONSTRAINT non_negative_attempts CHECK (attempts >= 0)
);

CREATE INDEX outbox_pending_idx ON outbox (available_at, id) WHERE processed_at IS NULL;
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_type, aggregate_id, id);

CREATE FUNCTION enqueue_outbox(p_topic text, p_aggregate_type text, p_aggregate_id uuid,
                               p_payload jsonb)
RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO outbox (topic, aggregate_type, aggregate_id, payload)
    VALUES (p_topic, p_aggregate_type, p_aggregate_id, p_payload)
    RETURNING id
$$;
