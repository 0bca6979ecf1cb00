-- Users, with local verification levels and the point balance the ledger keeps.

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    email varchar(255) NOT NULL,
    password_hash varchar(255),
    nickname varchar(50) NOT NULL,
    region_code varchar(20) REFERENCES regions (code),
    role user_role NOT NULL DEFAULT 'member',

    -- 0: none, 1: provisional (GPS), 2: verified, 3: official (admin only).
    verification_level smallint NOT NULL DEFAULT 0,
    is_local_verified boolean GENERATED ALWAYS AS (verification_level >= 1) STORED,
    verification_metadata jsonb NOT NULL DEFAULT '{}',

    profile_image_url text,
    bio text,
    interested_categories text[] NOT NULL DEFAULT '{}',

    point_balance integer NOT NULL DEFAULT 0,
    total_earned_points integer NOT NULL DEFAULT 0,

    question_count integer NOT NULL DEFAULT 0,
    answer_count integer NOT NULL DEFAULT 0,
    accepted_answer_count integer NOT NULL DEFAULT 0,

    notification_settings jsonb NOT NULL DEFAULT '{}',
    privacy_settings jsonb NOT NULL DEFAULT '{}',
    social_providers jsonb NOT NULL DEFAULT '{}',

    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_active_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,

    CONSTRAINT valid_verification_level CHECK (verification_level BETWEEN 0 AND 3),
    CONSTRAINT positive_point_balance CHECK (point_balance >= 0),
    CONSTRAINT valid_email CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
                                  AND email = lower(email)),
    CONSTRAINT valid_nickname CHECK (char_length(btrim(nickname)) BETWEEN 2 AND 50),
    CONSTRAINT non_negative_counts CHECK (
        question_count >= 0 AND answer_count >= 0 AND accepted_answer_count >= 0
        AND total_earned_points >= 0
    ),
    CONSTRAINT valid_bio CHECK (bio IS NULL OR char_length(bio) <= 500)
);

-- An address is unique among live accounts; a soft-deleted one frees it.
CREATE UNIQUE INDEX users_email_active_key ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_region_verified_idx ON users (region_code, verification_level, last_active_at DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX users_nickname_trgm_idx ON users USING gin (nickname gin_trgm_ops);
CREATE INDEX users_nickname_lower_idx ON users (lower(nickname)) WHERE deleted_at IS NULL;
CREATE INDEX users_social_providers_idx ON users USING gin (social_providers jsonb_path_ops);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
