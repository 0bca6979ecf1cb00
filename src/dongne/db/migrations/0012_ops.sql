-- Operations (issue 6): the ledger of scheduled job runs.
--
-- A scheduled run is claimed by inserting its (job, scheduled_for) slot: the
-- unique key makes a slot run once however many workers see it due; the
-- worker also holds a transaction-level advisory lock on the job while it runs,
-- so two slots of one job never overlap.

CREATE TABLE job_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job varchar(100) NOT NULL,
    scheduled_for timestamptz NOT NULL,
    worker varchar(200) NOT NULL,
    status varchar(20) NOT NULL DEFAULT 'running',
    attempts integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    last_error text,
    CONSTRAINT job_runs_slot_once UNIQUE (job, scheduled_for),
    CONSTRAINT valid_job_status CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    CONSTRAINT finished_when_settled CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX job_runs_recent_idx ON job_runs (job, started_at DESC);
