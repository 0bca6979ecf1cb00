"""Prometheus metrics, request ids and JSON logs for every dongne process."""
