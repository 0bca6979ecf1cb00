"""Questions and answers: ask, answer, accept, like."""
