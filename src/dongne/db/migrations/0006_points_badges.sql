-- The points ledger and badges. Every balance change is a ledger row written
-- under the user's row lock, so concurrent awards never lose an update.

CREATE TABLE point_transactions (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount integer NOT NULL,
    transaction_type point_transaction_type NOT NULL,
    description text,
    reference_type varchar(50),
    reference_id uuid,
    -- What makes an award happen once: 'accepted:<answer id>', 'daily_login:<user>:<day>'.
    idempotency_key varchar(200) UNIQUE,
    balance_before integer NOT NULL,
    balance_after integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT valid_amount CHECK (amount <> 0),
    CONSTRAINT valid_balance_calculation CHECK (balance_after = balance_before + amount),
    CONSTRAINT non_negative_balance CHECK (balance_before >= 0 AND balance_after >= 0),
    CONSTRAINT reference_fields_together CHECK ((reference_type IS NULL) = (reference_id IS NULL))
);

CREATE INDEX point_transactions_user_idx ON point_transactions (user_id, id DESC);
CREATE INDEX point_transactions_type_idx ON point_transactions (transaction_type, created_at DESC);
CREATE INDEX point_transactions_reference_idx ON point_transactions (reference_type, reference_id)
    WHERE reference_id IS NOT NULL;

-- Change a balance by p_amount with a ledger row. With an idempotency key a
-- repeated call returns NULL and changes nothing.
CREATE FUNCTION award_points(
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
    RETURN transaction_id;
END;
$$;

CREATE TABLE user_badges (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    badge_type varchar(50) NOT NULL,
    badge_level integer NOT NULL DEFAULT 1,
    metadata jsonb NOT NULL DEFAULT '{}',
    earned_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, badge_type),
    CONSTRAINT valid_badge_type CHECK (badge_type ~ '^[a-z][a-z0-9_:.-]{1,49}$'),
    CONSTRAINT valid_badge_level CHECK (badge_level BETWEEN 1 AND 10)
);

CREATE INDEX user_badges_type_idx ON user_badges (badge_type, earned_at DESC);
