-- Local verification (현지인 인증): GPS check-ins in the home district, and the
-- history of every verification level change.

-- One row per accepted check-in. ``day`` is the Asia/Seoul calendar day of
-- ``created_at``, generated so that the two can never disagree. Only the first
-- check-in of a day in a district counts; later ones are kept with counted = false.
CREATE TABLE user_checkins (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    region_code varchar(20) NOT NULL REFERENCES regions (code),
    -- x = longitude, y = latitude, as questions.location.
    location point NOT NULL,
    counted boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    day date GENERATED ALWAYS AS ((created_at AT TIME ZONE 'Asia/Seoul')::date) STORED,
    CONSTRAINT valid_location CHECK (
        location[0] BETWEEN -180 AND 180 AND location[1] BETWEEN -90 AND 90
    )
);

-- At most one counted check-in per user, district and day (a day spent moving
-- house may count in the new district too). The same index answers "counted
-- days in the home district in the last 30 days" with an index range scan.
CREATE UNIQUE INDEX user_checkins_counted_day_key ON user_checkins (user_id, region_code, day)
    WHERE counted;
CREATE INDEX user_checkins_user_idx ON user_checkins (user_id, created_at DESC);

CREATE TABLE user_verification_history (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    from_level smallint NOT NULL,
    to_level smallint NOT NULL,
    reason varchar(500) NOT NULL,
    -- The admin who set the level; NULL when the rules did (check-ins, moving).
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT valid_levels CHECK (from_level BETWEEN 0 AND 3 AND to_level BETWEEN 0 AND 3),
    CONSTRAINT level_changes CHECK (from_level <> to_level),
    CONSTRAINT reason_not_blank CHECK (char_length(btrim(reason)) > 0)
);

CREATE INDEX user_verification_history_user_idx ON user_verification_history (user_id, id);
CREATE INDEX user_verification_history_granted_by_idx ON user_verification_history (granted_by)
    WHERE granted_by IS NOT NULL;
