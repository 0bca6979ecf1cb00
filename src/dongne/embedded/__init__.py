"""Private PostgreSQL and Redis servers run from pip-installed binaries.

Used when no external server is configured: ``dongne up`` on a laptop, the
test-suite and CI all get the same real servers with nothing installed by hand.
"""
