"""The transactional outbox: events committed with the write that caused them,
delivered by ``dongne worker`` to idempotent handlers in per-aggregate order."""
