"""PostgreSQL: migrations, the shard router and its pools."""
