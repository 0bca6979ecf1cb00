"""Admin: moderation, point adjustments, official verification."""
