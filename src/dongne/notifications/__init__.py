"""Notifications: the inbox, delivered from the outbox, never lost."""
