"""dongne (동네물어봐): a hyperlocal Q&A backend for Jeju."""

__version__ = "0.1.0"
