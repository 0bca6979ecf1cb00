"""Redis: key naming, caches and counters derived from PostgreSQL."""
