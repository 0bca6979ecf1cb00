"""Korean text analysis."""
