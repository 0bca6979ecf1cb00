-- External search index (Elasticsearch) sync: what is owed to it, durably.
--
-- PostgreSQL is the truth and a write to Elasticsearch cannot join our
-- transactions, so the outbox handler only records *that* a question must be
-- re-sent, in the worker's transaction (it commits with the event's
-- "processed" mark or not at all). A separate syncer sends the question's
-- current state later and records the acknowledgement; nothing is lost in
-- between, and a crash at any point leaves the row pending.

-- Every request to re-send draws a number from here. It doubles as the
-- document's external version in Elasticsearch, which only accepts a higher
-- version than it holds: a slow writer can never put an older state back.
CREATE SEQUENCE search_external_seq;

-- One row per question ever queued (so the table is bounded by questions,
-- like question_search). The row is pending while seq > synced_seq; the
-- syncer sets synced_seq = seq only after the index acknowledged that seq, and
-- only if no newer request (a higher seq) arrived meanwhile. Keeping the row
-- afterwards is what lets a reindex find every question changed since it
-- started (seq above the build's number) and send it again after the swap.
-- No foreign key: a question that is gone must still leave the index.
CREATE TABLE search_external_sync (
    question_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    synced_seq bigint NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    -- Due time: now for fresh work, a lease while a syncer holds the row, a
    -- backoff after a failed write.
    available_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);

-- The syncer's claim reads only pending rows, due first.
CREATE INDEX search_external_sync_due ON search_external_sync (available_at)
    WHERE seq > synced_seq;

-- Deleting an answer lowers questions.answer_count (a trigger of 0007) but
-- emitted no event, so an external index kept the old count (has_answers,
-- most_answers). Emit one, aggregate the question, like answer.created.
CREATE FUNCTION answers_emit_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM enqueue_outbox(
        CASE WHEN NEW.deleted_at IS NULL THEN 'answer.restored' ELSE 'answer.deleted' END,
        'question', NEW.question_id,
        jsonb_build_object('answer_id', NEW.id, 'user_id', NEW.user_id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER answers_emit_deleted AFTER UPDATE OF deleted_at ON answers
    FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION answers_emit_deleted();
