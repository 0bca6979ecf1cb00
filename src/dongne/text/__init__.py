"""Korean text analysis shared by the category classifier and Korean search."""

from dongne.text.analysis import KoreanAnalyzer, get_analyzer

__all__ = ["KoreanAnalyzer", "get_analyzer"]
