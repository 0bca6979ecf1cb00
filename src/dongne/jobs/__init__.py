"""Scheduled jobs run by ``dongne worker``: cron expressions, single-run across workers."""
