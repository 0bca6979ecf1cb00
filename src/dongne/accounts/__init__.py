"""Accounts: sign-up, sessions, profiles and local verification (현지인 인증)."""
