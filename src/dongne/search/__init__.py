"""Korean search over questions: one contract, a PostgreSQL and an Elasticsearch backend."""
